// cachegen (kvforge's CacheGen) and cachegen-ref (LMCache's CacheGen as shipped).
//
// Both quantize each (layer, K/V) plane to integer symbols and entropy-code them
// with interleaved rANS (8 states), one distribution per (layer, K/V, channel[, context]),
// channel = kv_head * head_dim + d.
//   cachegen-ref: step per (layer, token) = absmax over all kv heads' channels / Q,
//     Q = bins/2 - 1 with 32 bins (LMCache's schedule for < 10 layers), tables
//     shipped raw (u16 per symbol), no context, no delta.
//   cachegen: per (layer, K/V, channel) an fp16 offset (K: the channel's midrange; V: 0)
//     and an fp16 step = max |x - offset| / Q, with a layer-wise bins schedule per
//     level. Each channel codes either q or q minus the previous token's q (chosen per
//     channel by the encoder, or taken from the profile), with the distribution
//     conditioned on a class of the previous symbol in the same channel (K only);
//     or, with delta=on, anchors every 10 tokens and deltas against them.
//     Tables are shipped compactly or taken from a model Profile.
// The pieces: levels.cc (schedules), symbols.cc (order, contexts, prediction),
// tables.cc (frequency rows), encoder.cc, decoder.cc + decoder_avx2.cc, profile.cc
// and profile_learn.cc. This file is the CodecImpl that joins them per section.
#include <algorithm>

#include "codec/codec_impl.h"
#include "codec/decoder.h"
#include "codec/encoder.h"
#include "codec/levels.h"
#include "codec/plane_basis.h"
#include "codec/profile_internal.h"
#include "kvforge/codec/profile.h"

namespace kvforge::codec {
namespace f = format;

namespace {

using cachegen::Geometry;
using cachegen::kLanes;
using cachegen::Plane;

class CacheGenCodec final : public CodecImpl {
 public:
  // level == 0: cachegen-ref.
  // delta_mode: 0 = the level's default, 1 = off, 2 = on (frame header parameter).
  CacheGenCodec(int level, int delta_mode)
      : level_(level), delta_mode_(delta_mode), spec_(level ? cachegen::find_level(level) : nullptr) {}
  std::string name() const override { return level_ ? "cachegen" : "cachegen-ref"; }
  std::string level() const override {
    if (!level_) return "";
    return std::to_string(level_) + (delta_mode_ == 1 ? ",delta=off" : delta_mode_ == 2 ? ",delta=on" : "");
  }
  uint32_t param() const override { return static_cast<uint32_t>(delta_mode_); }
  uint8_t codec_id() const override { return level_ ? f::kCacheGen : f::kCacheGenRef; }
  uint8_t level_id() const override { return static_cast<uint8_t>(level_); }
  bool supports_profile() const override { return level_ != 0; }

  size_t max_section_bytes(const KvShape& s, size_t T) const override;
  Status encode_section(const SectionCtx& c, const float* k, const float* v, std::string* out) const override;
  Status decode_section(const SectionCtx& c, std::string_view sec, float* k, float* v) const override;

 private:
  Plane plane(int L, int layer, int kv, bool basis) const {
    if (!level_) return cachegen::ref_plane(L, layer, kv);
    cachegen::LevelSpec sp = *spec_;
    if (delta_mode_ != 0) sp.delta = delta_mode_ == 2;
    return cachegen::cachegen_plane(sp, L, layer, kv, basis);
  }

  // The profile's rows, flags and step of one plane.
  Status profile_tables(const SectionCtx& c, int kv, const Plane& p, cachegen::PlaneTables* out) const {
    const Profile::LevelTables* lt = c.profile->find(static_cast<uint8_t>(level_));
    if (lt == nullptr || delta_mode_ != 0 || lt->alphabet < p.A || lt->n_ctx < p.nctx) {
      return Status::InvalidArgument("codec: profile has no tables for cachegen level " + level());
    }
    *out = plane_tables(*lt, c.layer, kv, static_cast<size_t>(c.shape.n_kv_heads) * c.shape.head_dim);
    return Status::OK();
  }

  Status decode_plane(const SectionCtx& c, int kv, cachegen::ByteReader* in, cachegen::DecodeScratch* scratch,
                      float* x) const;

  int level_;
  int delta_mode_;
  const cachegen::LevelSpec* spec_;
};

size_t CacheGenCodec::max_section_bytes(const KvShape& s, size_t T) const {
  const size_t nch = static_cast<size_t>(s.n_kv_heads) * s.head_dim;
  size_t total = 0;
  for (int kv = 0; kv < 2; ++kv) {
    size_t worst = 0;
    for (int l = 0; l < s.n_layers; ++l)
      for (int basis = 0; basis < (level_ ? 2 : 1); ++basis) {
        const Plane p = plane(s.n_layers, l, kv, basis != 0);
        const size_t steps = 2 * (p.per_token ? T : nch) + (p.offset ? 2 * nch : 0) + (nch + 7) / 8;
        const size_t tables = nch * p.nctx * (p.raw_tables ? 2 * p.A : 2 + 3 * p.A);
        // rANS: at most one 16-bit word per symbol, plus the states and the length.
        worst = std::max(worst, steps + tables + 4 + 4 * kLanes + 2 * nch * T);
      }
    total += worst;
  }
  return total;
}

Status CacheGenCodec::encode_section(const SectionCtx& c, const float* k, const float* v, std::string* out) const {
  const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
  const float* xs[2] = {k, v};
  std::vector<float> coded;
  for (int kv = 0; kv < 2; ++kv) {
    const bool basis = c.profile != nullptr;
    const Plane p = plane(c.shape.n_layers, c.layer, kv, basis);
    const float* x = xs[kv];
    if (!basis) {
      cachegen::encode_plane(p, g, x, nullptr, out);
      continue;
    }
    coded.resize(c.layer_elements());
    to_basis(basis_of(c.profile->data(), c.layer, kv), g.T, c.first_position, x, coded.data());
    cachegen::PlaneTables tables;
    KVF_RETURN_IF_ERROR(profile_tables(c, kv, p, &tables));
    cachegen::encode_plane(p, g, coded.data(), &tables, out);
  }
  return Status::OK();
}

Status CacheGenCodec::decode_plane(const SectionCtx& c, int kv, cachegen::ByteReader* in,
                                   cachegen::DecodeScratch* scratch, float* x) const {
  const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
  const size_t nch = static_cast<size_t>(g.nch());
  const Plane p = plane(c.shape.n_layers, c.layer, kv, c.profile != nullptr);
  std::vector<float> steps, offs;
  KVF_RETURN_IF_ERROR(cachegen::read_steps(p, g, in, &steps, &offs));
  cachegen::PlaneTables tables;
  std::vector<uint16_t> freq;
  std::vector<uint8_t> pred;
  if (c.profile != nullptr) {
    KVF_RETURN_IF_ERROR(profile_tables(c, kv, p, &tables));
  } else {
    if (!p.per_token && !p.delta) {
      if (!cachegen::read_pred_flags(nch, in, &pred)) return Status::Corruption("truncated or invalid prediction flags");
      tables.pred = pred.data();
    }
    if (!cachegen::read_tables(p, nch * p.nctx, in, &freq)) return Status::Corruption("invalid symbol tables");
    tables.freq = freq.data();
    tables.n_ctx = p.nctx;
    tables.alphabet = p.A;
  }
  // Basis blocks of 8 channels coincide with lane groups: the decoder applies them.
  PlaneBasis pbasis;
  std::vector<float> mixes;
  if (c.profile != nullptr) {
    pbasis = basis_of(c.profile->data(), c.layer, kv);
    if (pbasis.block == kLanes && g.D % kLanes == 0) {
      mixes.resize(nch * kLanes);
      for (size_t blk = 0; blk < nch / kLanes; ++blk)
        backward_matrix(pbasis, static_cast<int>(blk), &mixes[blk * kLanes * kLanes]);
    }
  }
  KVF_RETURN_IF_ERROR(cachegen::decode_symbols(p, g, tables, steps, offs, mixes.empty() ? nullptr : mixes.data(), in,
                                               scratch, x));
  if (!mixes.empty()) rotate_to_positions(pbasis, g.T, c.first_position, x);
  else if (c.profile != nullptr) from_basis(pbasis, g.T, c.first_position, x, x);
  return Status::OK();
}

Status CacheGenCodec::decode_section(const SectionCtx& c, std::string_view sec, float* k, float* v) const {
  const auto* b = reinterpret_cast<const uint8_t*>(sec.data());
  cachegen::ByteReader in(b, b + sec.size());
  cachegen::DecodeScratch scratch;
  KVF_RETURN_IF_ERROR(decode_plane(c, 0, &in, &scratch, k).with_context("K"));
  KVF_RETURN_IF_ERROR(decode_plane(c, 1, &in, &scratch, v).with_context("V"));
  if (!in.done()) return Status::Corruption("trailing bytes in section");
  return Status::OK();
}

}  // namespace

std::vector<std::string> cachegen_level_names() {
  std::vector<std::string> v;
  for (const auto& l : cachegen::levels()) v.push_back(std::to_string(l.id));
  return v;
}

std::unique_ptr<CodecImpl> new_cachegen_ref() { return std::make_unique<CacheGenCodec>(0, 0); }
std::unique_ptr<CodecImpl> new_cachegen(int level, int delta_mode) {
  return std::make_unique<CacheGenCodec>(level, delta_mode);
}

}  // namespace kvforge::codec

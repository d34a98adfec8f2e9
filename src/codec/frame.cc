// The frame driver: header, section index, checksums, limits, threading.
#include <xxhash.h>

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "codec/codec_impl.h"
#include "codec/frame_format.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::codec {
namespace f = format;

namespace {

Status check_shape(const KvShape& s, size_t n_tokens) {
  if (s.n_layers < 1 || s.n_kv_heads < 1 || s.head_dim < 1) {
    return Status::InvalidArgument("codec: shape needs n_layers, n_kv_heads, head_dim >= 1 (got " +
                                   std::to_string(s.n_layers) + "x" + std::to_string(s.n_kv_heads) + "x" +
                                   std::to_string(s.head_dim) + ")");
  }
  if (static_cast<uint32_t>(s.n_layers) > f::kMaxLayers || static_cast<uint32_t>(s.n_kv_heads) > f::kMaxKvHeads ||
      static_cast<uint32_t>(s.head_dim) > f::kMaxHeadDim || n_tokens > f::kMaxTokens) {
    return Status::InvalidArgument("codec: shape exceeds the frame limits (layers <= 1024, kv heads <= 1024, "
                                   "head_dim <= 1024, tokens <= 2^24)");
  }
  const uint64_t el = static_cast<uint64_t>(s.n_layers) * s.n_kv_heads * s.head_dim * n_tokens;
  if (el > f::kMaxElementsPerSide) return Status::InvalidArgument("codec: chunk exceeds 2^31 elements per side");
  return Status::OK();
}

template <typename Fn>
void for_layers(core::ThreadPool* pool, int n, Fn&& fn) {
  if (pool == nullptr || pool->size() <= 1 || n <= 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  pool->parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) fn(static_cast<int>(i));
  });
}

uint64_t hash(const void* p, size_t n) { return XXH64(p, n, 0); }

// Every codec stores values, scales or steps as fp16, and decode rejects non-finite
// output, so a value an fp16 cannot hold would make a frame no decoder accepts.
Status check_encodable(const float* x, size_t n, const char* side) {
  constexpr float kFp16Max = 65504.0f;
  for (size_t i = 0; i < n; ++i) {
    if (!(std::fabs(x[i]) <= kFp16Max)) {
      return Status::InvalidArgument(std::string(side) + " value " + std::to_string(x[i]) + " at element " +
                                     std::to_string(i) + " is not finite or exceeds the fp16 range (|x| <= 65504)");
    }
  }
  return Status::OK();
}

// Parses and verifies everything before the payload. `bytes` may be a prefix.
Result<FrameInfo> parse_header(std::string_view bytes, uint8_t* codec_id, uint8_t* level_id, uint32_t* param) {
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < f::kFixedHeaderBytes) {
    return Status::Corruption("codec frame: truncated header (" + std::to_string(bytes.size()) + " bytes, need " +
                              std::to_string(f::kFixedHeaderBytes) + ")");
  }
  if (std::memcmp(b, f::kMagic, 4) != 0) return Status::Corruption("codec frame: bad magic (not a kvforge KV frame)");
  const uint32_t n_layers = f::get_u32(b + f::kOffLayers);
  if (n_layers < 1 || n_layers > f::kMaxLayers) {
    return Status::Corruption("codec frame: layer count " + std::to_string(n_layers) + " out of range 1..1024");
  }
  const size_t hdr = f::header_bytes(n_layers);
  if (bytes.size() < hdr) {
    return Status::Corruption("codec frame: truncated header (" + std::to_string(bytes.size()) + " bytes, need " +
                              std::to_string(hdr) + ")");
  }
  if (hash(b, hdr - f::kChecksumBytes) != f::get_u64(b + hdr - f::kChecksumBytes)) {
    return Status::Corruption("codec frame: header checksum mismatch");
  }
  FrameInfo info;
  info.format_version = f::get_u16(b + f::kOffVersion);
  if (info.format_version != f::kFormatVersion) {
    return Status::NotSupported("codec frame: format version " + std::to_string(info.format_version) +
                                " (this build reads version " + std::to_string(f::kFormatVersion) + ")");
  }
  *codec_id = b[f::kOffCodecId];
  *level_id = b[f::kOffLevel];
  info.flags = f::get_u32(b + f::kOffFlags);
  *param = f::get_u32(b + f::kOffParam);
  info.first_position = f::get_u32(b + f::kOffFirstPosition);
  if ((info.flags & ~f::kKnownFlags) != 0 || f::get_u32(b + f::kOffReserved) != 0 ||
      info.first_position > f::kMaxFirstPosition) {
    return Status::Corruption("codec frame: reserved flag or field set");
  }
  const uint32_t heads = f::get_u32(b + f::kOffKvHeads), hd = f::get_u32(b + f::kOffHeadDim),
                 tok = f::get_u32(b + f::kOffTokens);
  info.shape = {static_cast<int>(n_layers), static_cast<int>(heads), static_cast<int>(hd)};
  info.n_tokens = tok;
  if (heads < 1 || hd < 1 || heads > f::kMaxKvHeads || hd > f::kMaxHeadDim || tok > f::kMaxTokens ||
      !check_shape(info.shape, tok).ok()) {
    return Status::Corruption("codec frame: shape out of limits");
  }
  info.model_fingerprint = f::get_u64(b + f::kOffFingerprint);
  info.profile_id = f::get_u64(b + f::kOffProfileId);
  if (((info.flags & f::kFlagProfile) != 0) != (info.profile_id != 0)) {
    return Status::Corruption("codec frame: profile flag and profile id disagree");
  }
  info.frame_bytes = f::get_u64(b + f::kOffFrameBytes);
  info.header_bytes = hdr;
  uint64_t expect = hdr;
  for (uint32_t i = 0; i < n_layers; ++i) {
    const uint8_t* e = b + f::kFixedHeaderBytes + i * f::kIndexEntryBytes;
    const uint64_t off = f::get_u64(e), size = f::get_u64(e + 8);
    if (off != expect || size > (1ull << 40)) return Status::Corruption("codec frame: section index inconsistent");
    info.section_offset.push_back(off);
    info.section_size.push_back(size);
    expect = off + size;
  }
  if (expect != info.frame_bytes) return Status::Corruption("codec frame: frame size disagrees with the index");
  return info;
}

struct Parsed {
  FrameInfo info;
  std::unique_ptr<CodecImpl> impl;
  uint32_t param = 0;
};

Result<Parsed> parse_and_check(std::string_view bytes, const DecodeOptions& opts) {
  Parsed p;
  uint8_t cid = 0, lid = 0;
  KVF_ASSIGN_OR_RETURN(p.info, parse_header(bytes, &cid, &lid, &p.param));
  KVF_ASSIGN_OR_RETURN(p.impl, make_codec_from_ids(cid, lid, p.param));
  if (opts.expected_fingerprint && *opts.expected_fingerprint != p.info.model_fingerprint) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "codec frame: encoded for model fingerprint %016llx, expected %016llx",
                  static_cast<unsigned long long>(p.info.model_fingerprint),
                  static_cast<unsigned long long>(*opts.expected_fingerprint));
    return Status::InvalidArgument(buf);
  }
  if (p.info.profile_id != 0) {
    if (opts.profile == nullptr) return Status::InvalidArgument("codec frame: encoded with a model profile; none given");
    if (opts.profile->id() != p.info.profile_id) {
      return Status::InvalidArgument("codec frame: encoded with a different model profile");
    }
    KVF_RETURN_IF_ERROR(opts.profile->check_compatible(p.info.shape));
  }
  return p;
}

// True when no value in x[0, n) is NaN or Inf: an all-ones exponent. A branch-free
// test on the bits, so one pass over the decoded floats vectorises.
bool all_finite(const float* x, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

// Every codec stores finite fp16 values, scales or steps, so a frame that decodes to
// NaN or Inf was damaged (or crafted) past its checksums: callers may rely on finite KV.
Status check_decoded_finite(const float* x, size_t n) {
  if (all_finite(x, n)) return Status::OK();
  size_t i = 0;
  while (std::isfinite(x[i])) ++i;
  return Status::Corruption("decoded value " + std::to_string(x[i]) + " at element " + std::to_string(i) +
                            " is not finite");
}

Status decode_one(const Parsed& p, std::string_view bytes, int layer, float* k, float* v, const Profile* profile) {
  const uint64_t off = p.info.section_offset[layer], size = p.info.section_size[layer];
  if (bytes.size() < off + size) {
    return Status::Corruption("codec frame: truncated in section " + std::to_string(layer));
  }
  const char* sec = bytes.data() + off;
  if (hash(sec, size) != f::get_u64(bytes.data() + f::kFixedHeaderBytes + layer * f::kIndexEntryBytes + 16)) {
    return Status::Corruption("codec frame: checksum mismatch in section " + std::to_string(layer));
  }
  SectionCtx ctx{p.info.shape, p.info.n_tokens, layer, p.param, p.info.profile_id ? profile : nullptr,
                 static_cast<int32_t>(p.info.first_position)};
  Status s = p.impl->decode_section(ctx, std::string_view(sec, size), k, v);
  if (s.ok()) s = check_decoded_finite(k, ctx.layer_elements()).with_context("K");
  if (s.ok()) s = check_decoded_finite(v, ctx.layer_elements()).with_context("V");
  if (!s.ok()) return s.with_context("codec " + p.impl->spec() + ": layer " + std::to_string(layer));
  return Status::OK();
}

Status same_codec(const Codec& self, const Parsed& p) {
  if (self.name() != p.impl->name() || self.level() != p.impl->level()) {
    return Status::InvalidArgument("codec: frame was encoded by '" + p.impl->spec() + "', this codec is '" +
                                   self.spec() + "' (use decode_frame to decode any frame)");
  }
  return Status::OK();
}

Status decode_all(const Parsed& p, std::string_view frame, KvChunk* out, const DecodeOptions& opts) {
  if (frame.size() != p.info.frame_bytes) {
    return Status::Corruption("codec frame: " + std::to_string(frame.size()) + " bytes, header declares " +
                              std::to_string(p.info.frame_bytes) + (frame.size() < p.info.frame_bytes ? " (truncated)" : ""));
  }
  out->shape = p.info.shape;
  out->n_tokens = p.info.n_tokens;
  const size_t per_layer = static_cast<size_t>(p.info.shape.n_kv_heads) * p.info.n_tokens * p.info.shape.head_dim;
  out->k.resize(per_layer * p.info.shape.n_layers);
  out->v.resize(per_layer * p.info.shape.n_layers);
  std::vector<Status> st(p.info.shape.n_layers);
  for_layers(opts.pool, p.info.shape.n_layers, [&](int l) {
    st[l] = decode_one(p, frame, l, out->k.data() + per_layer * l, out->v.data() + per_layer * l, opts.profile);
  });
  for (auto& s : st) KVF_RETURN_IF_ERROR(s);
  return Status::OK();
}

}  // namespace

std::string Codec::spec() const {
  std::string l = level();
  return l.empty() ? name() : name() + ":level=" + l;
}

Result<std::string> Codec::encode(const KvChunkView& c, const EncodeOptions& opts) const {
  const auto& impl = static_cast<const CodecImpl&>(*this);
  KVF_RETURN_IF_ERROR(check_shape(c.shape, c.n_tokens));
  const size_t n = c.elements();
  if (n > 0 && (c.k == nullptr || c.v == nullptr)) return Status::InvalidArgument("codec: null K or V data");
  for (const auto& [x, side] : {std::pair{c.k, "K"}, std::pair{c.v, "V"}}) {
    if (Status s = check_encodable(x, n, side); !s.ok()) return s.with_context("codec " + spec());
  }
  if (opts.first_position < 0 || static_cast<uint32_t>(opts.first_position) > f::kMaxFirstPosition) {
    return Status::InvalidArgument("codec: first_position " + std::to_string(opts.first_position) +
                                   " out of range 0..2^30");
  }
  const Profile* profile = nullptr;
  if (opts.profile != nullptr) {
    if (!impl.supports_profile()) return Status::InvalidArgument("codec " + spec() + " does not use a profile");
    KVF_RETURN_IF_ERROR(opts.profile->check_compatible(c.shape));
    profile = opts.profile;
  }
  const int L = c.shape.n_layers;
  const size_t per_layer = n / static_cast<size_t>(L);
  std::vector<std::string> secs(L);
  std::vector<Status> st(L);
  for_layers(opts.pool, L, [&](int l) {
    SectionCtx ctx{c.shape, c.n_tokens, l, impl.param(), profile, opts.first_position};
    st[l] = impl.encode_section(ctx, c.k + per_layer * l, c.v + per_layer * l, &secs[l]);
  });
  for (auto& s : st) KVF_RETURN_IF_ERROR(s);
  const size_t hdr = f::header_bytes(L);
  size_t total = hdr;
  for (auto& s : secs) total += s.size();
  std::string out;
  out.reserve(total);
  out.append(f::kMagic, f::kMagic + 4);
  f::put_u16(&out, f::kFormatVersion);
  f::put_u8(&out, impl.codec_id());
  f::put_u8(&out, impl.level_id());
  f::put_u32(&out, profile ? f::kFlagProfile : 0);
  f::put_u32(&out, impl.param());
  f::put_u32(&out, static_cast<uint32_t>(L));
  f::put_u32(&out, static_cast<uint32_t>(c.shape.n_kv_heads));
  f::put_u32(&out, static_cast<uint32_t>(c.shape.head_dim));
  f::put_u32(&out, static_cast<uint32_t>(c.n_tokens));
  f::put_u64(&out, opts.model_fingerprint);
  f::put_u64(&out, profile ? profile->id() : 0);
  f::put_u64(&out, total);
  f::put_u32(&out, static_cast<uint32_t>(opts.first_position));
  f::put_u32(&out, 0);
  uint64_t off = hdr;
  for (auto& s : secs) {
    f::put_u64(&out, off);
    f::put_u64(&out, s.size());
    f::put_u64(&out, hash(s.data(), s.size()));
    off += s.size();
  }
  f::put_u64(&out, hash(out.data(), out.size()));
  KVF_CHECK(out.size() == hdr);
  for (auto& s : secs) out += s;
  return out;
}

Status Codec::decode(std::string_view frame, KvChunk* out, const DecodeOptions& opts) const {
  KVF_ASSIGN_OR_RETURN(Parsed p, parse_and_check(frame, opts));
  KVF_RETURN_IF_ERROR(same_codec(*this, p));
  return decode_all(p, frame, out, opts);
}

Status Codec::decode_layer(std::string_view frame_prefix, int layer, float* k, float* v,
                           const DecodeOptions& opts) const {
  KVF_ASSIGN_OR_RETURN(Parsed p, parse_and_check(frame_prefix, opts));
  KVF_RETURN_IF_ERROR(same_codec(*this, p));
  if (layer < 0 || layer >= p.info.shape.n_layers) {
    return Status::InvalidArgument("codec: layer " + std::to_string(layer) + " out of range");
  }
  return decode_one(p, frame_prefix, layer, k, v, opts.profile);
}

Result<FrameInfo> peek_header(std::string_view bytes) {
  Parsed p;
  uint8_t cid = 0, lid = 0;
  KVF_ASSIGN_OR_RETURN(p.info, parse_header(bytes, &cid, &lid, &p.param));
  KVF_ASSIGN_OR_RETURN(p.impl, make_codec_from_ids(cid, lid, p.param));
  p.info.codec = p.impl->name();
  p.info.level = p.impl->level();
  p.info.spec = p.impl->spec();
  return p.info;
}

Status decode_frame(std::string_view frame, KvChunk* out, const DecodeOptions& opts) {
  KVF_ASSIGN_OR_RETURN(Parsed p, parse_and_check(frame, opts));
  return decode_all(p, frame, out, opts);
}

Result<size_t> max_encoded_size(const KvShape& shape, size_t n_tokens, std::string_view spec) {
  KVF_RETURN_IF_ERROR(check_shape(shape, n_tokens));
  KVF_ASSIGN_OR_RETURN(auto impl, make_codec_impl(spec));
  return f::header_bytes(shape.n_layers) + impl->max_section_bytes(shape, n_tokens) * shape.n_layers;
}

}  // namespace kvforge::codec

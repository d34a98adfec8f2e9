// learn_profile: a model's basis, weights, plane steps, prediction flags and symbol
// tables, from sample chunks (docs/FORMAT.md, "Profile transform", "Profile files").
#include <algorithm>
#include <cmath>

#include "codec/encoder.h"
#include "codec/levels.h"
#include "codec/profile_internal.h"
#include "codec/rans.h"
#include "codec/symbols.h"
#include "kvforge/codec/profile.h"

namespace kvforge::codec {

namespace {

using cachegen::Geometry;
using cachegen::Plane;

Status check_options(std::span<const KvChunkView> chunks, const LearnOptions& o, size_t layer_channels) {
  if (!o.first_positions.empty() && o.first_positions.size() != chunks.size()) {
    return Status::InvalidArgument("learn_profile: first_positions must have one entry per chunk");
  }
  for (int32_t p : o.first_positions)
    if (p < 0) return Status::InvalidArgument("learn_profile: negative first position");
  if (!(o.rope_theta >= 0 && o.rope_theta < 1e12f)) return Status::InvalidArgument("learn_profile: invalid rope_theta");
  for (const auto* ws : {&o.key_weights, &o.value_weights}) {
    if (!ws->empty() && ws->size() != layer_channels) {
      return Status::InvalidArgument("learn_profile: key/value weights must hold n_layers * n_kv_heads * head_dim values");
    }
    for (float w : *ws)
      if (!(w >= 0 && std::isfinite(w))) return Status::InvalidArgument("learn_profile: weights must be finite and >= 0");
  }
  return Status::OK();
}

// Scaled to geometric mean 1 (only ratios matter), floored so every weight is > 0.
// With RoPE undone, a pair (2i, 2i+1) shares one weight: the rotation mixes the
// two, and equal weights let the error bound pass through it unchanged.
void set_weights(const LearnOptions& o, Profile::Data* prof) {
  const KvShape& sh = prof->shape;
  const size_t C = static_cast<size_t>(sh.n_kv_heads) * sh.head_dim;
  prof->weights.assign(static_cast<size_t>(sh.n_layers) * 2 * C, 1.0f);
  for (int plane = 0; plane < 2 * sh.n_layers; ++plane) {
    const int l = plane / 2, kv = plane % 2;
    const std::vector<float>& given = kv == 0 ? o.key_weights : o.value_weights;
    if (given.empty()) continue;
    std::vector<float> w(given.begin() + static_cast<std::ptrdiff_t>(l * C),
                         given.begin() + static_cast<std::ptrdiff_t>((l + 1) * C));
    if (kv == 0 && o.rope_theta > 0)
      for (size_t c = 0; c + 1 < C; c += 2)
        if ((c % sh.head_dim) + 1 < static_cast<size_t>(sh.head_dim)) w[c] = w[c + 1] = 0.5f * (w[c] + w[c + 1]);
    const float top = *std::max_element(w.begin(), w.end());
    if (!(top > 0)) continue;
    std::vector<double> fl(C);
    double log_sum = 0;
    for (size_t c = 0; c < C; ++c) {
      fl[c] = std::max<double>(w[c], 1e-6 * top);
      log_sum += std::log(fl[c]);
    }
    const double gm = std::exp(log_sum / C);
    for (size_t c = 0; c < C; ++c) prof->weights[(static_cast<size_t>(l) * 2 + kv) * C + c] = static_cast<float>(fl[c] / gm);
  }
}

// Per block, the B x B covariance of plane (l, kv)'s weighted, un-rotated channels
// over the sample chunks, each chunk's own mean removed (as the encoder removes it
// with per-chunk offsets). pb's basis is the identity.
std::vector<double> plane_covariance(std::span<const KvChunkView> chunks, const LearnOptions& o, const PlaneBasis& pb,
                                     const KvShape& sh, int l, int kv) {
  const size_t C = static_cast<size_t>(sh.n_kv_heads) * sh.head_dim;
  const int B = pb.block;
  std::vector<double> cov(C * B, 0.0);
  std::vector<float> y;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const KvChunkView& c = chunks[ci];
    const size_t T = c.n_tokens;
    if (T == 0) continue;
    const size_t per_layer = C * T;
    y.resize(per_layer);
    to_basis(pb, T, o.first_positions.empty() ? 0 : o.first_positions[ci], (kv ? c.v : c.k) + per_layer * l, y.data());
    std::vector<double> mean(C, 0.0), row(C);
    const auto at = [&](size_t ch, size_t t) { return y[((ch / sh.head_dim) * T + t) * sh.head_dim + ch % sh.head_dim]; };
    for (size_t ch = 0; ch < C; ++ch)
      for (size_t t = 0; t < T; ++t) mean[ch] += at(ch, t);
    for (double& m : mean) m /= static_cast<double>(T);
    for (size_t t = 0; t < T; ++t) {
      for (size_t ch = 0; ch < C; ++ch) row[ch] = at(ch, t) - mean[ch];
      for (size_t blk = 0; blk < C / B; ++blk)
        for (int i = 0; i < B; ++i)
          for (int j = 0; j < B; ++j) cov[(blk * B + i) * B + j] += row[blk * B + i] * row[blk * B + j];
    }
  }
  return cov;
}

// Weights and basis of every plane from the sample chunks: per block, the
// eigenvectors of the covariance.
Status learn_basis(std::span<const KvChunkView> chunks, const LearnOptions& o, Profile::Data* prof) {
  const KvShape& sh = prof->shape;
  const int L = sh.n_layers;
  const size_t C = static_cast<size_t>(sh.n_kv_heads) * sh.head_dim;
  KVF_RETURN_IF_ERROR(check_options(chunks, o, static_cast<size_t>(L) * C));
  const int B = o.block ? o.block : default_block(sh);
  if (!valid_block(B, sh.head_dim, static_cast<int>(C))) {
    return Status::InvalidArgument("learn_profile: basis block " + std::to_string(B) + " must divide " +
                                   std::to_string(C) + " channels, divide or be a multiple of head_dim " +
                                   std::to_string(sh.head_dim) + ", and be <= 256");
  }
  prof->rope_theta = o.rope_theta;
  prof->block = static_cast<uint32_t>(B);
  set_weights(o, prof);
  std::vector<float> identity(C * B, 0.0f);
  for (size_t blk = 0; blk < C / B; ++blk)
    for (int i = 0; i < B; ++i) identity[(blk * B + i) * B + i] = 1.0f;
  prof->basis.assign(static_cast<size_t>(L) * 2 * C * B, 0.0f);
  for (int l = 0; l < L; ++l)
    for (int kv = 0; kv < 2; ++kv) {
      PlaneBasis pb = basis_of(*prof, l, kv);
      pb.basis = identity.data();
      const std::vector<double> cov = plane_covariance(chunks, o, pb, sh, l, kv);
      float* out = &prof->basis[(static_cast<size_t>(l) * 2 + kv) * C * B];
      std::vector<double> vec, val;
      for (size_t blk = 0; blk < C / B; ++blk) {
        symmetric_eigen(B, std::vector<double>(cov.begin() + blk * B * B, cov.begin() + (blk + 1) * B * B), &vec, &val);
        for (int i = 0; i < B * B; ++i) out[blk * B * B + i] = static_cast<float>(vec[i]);
      }
    }
  return Status::OK();
}

// The sample chunks in the profile's basis (the tables describe the coded planes).
struct CodedChunks {
  std::vector<std::vector<float>> k, v;
  std::vector<KvChunkView> views;
};

void to_coded(std::span<const KvChunkView> raw, const Profile::Data& prof, const LearnOptions& o, CodedChunks* out) {
  out->k.resize(raw.size());
  out->v.resize(raw.size());
  for (size_t ci = 0; ci < raw.size(); ++ci) {
    const KvChunkView& c = raw[ci];
    const size_t per_layer = static_cast<size_t>(c.shape.n_kv_heads) * c.shape.head_dim * c.n_tokens;
    out->k[ci].resize(c.elements());
    out->v[ci].resize(c.elements());
    const int32_t first = o.first_positions.empty() ? 0 : o.first_positions[ci];
    for (int l = 0; l < c.shape.n_layers; ++l) {
      to_basis(basis_of(prof, l, 0), c.n_tokens, first, c.k + per_layer * l, out->k[ci].data() + per_layer * l);
      to_basis(basis_of(prof, l, 1), c.n_tokens, first, c.v + per_layer * l, out->v[ci].data() + per_layer * l);
    }
    out->views.push_back({c.shape, c.n_tokens, out->k[ci].data(), out->v[ci].data()});
  }
}

const float* plane_of(const KvChunkView& c, int l, int kv) {
  const size_t per_layer = static_cast<size_t>(c.shape.n_kv_heads) * c.n_tokens * c.shape.head_dim;
  return (kv ? c.v : c.k) + per_layer * l;
}

Geometry geometry_of(const KvChunkView& c) { return {c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens}; }

// The plane's step: the geometric mean, over the sample chunks (by tokens), of the
// step each would derive alone.
float plane_step(const Plane& p, std::span<const KvChunkView> chunks, int l, int kv) {
  std::vector<uint16_t> steps, offs;
  std::vector<int16_t> q;
  double log_sum = 0, weight = 0;
  for (const auto& c : chunks) {
    float S = 0;
    cachegen::quantize_plane(p, geometry_of(c), plane_of(c, l, kv), &steps, &offs, &q, 0, &S);
    if (S > 0) {
      log_sum += std::log(static_cast<double>(S)) * static_cast<double>(c.n_tokens);
      weight += static_cast<double>(c.n_tokens);
    }
  }
  return weight > 0 ? static_cast<float>(std::exp(log_sum / weight)) : 0.0f;
}

// One level's tables. qs[(chunk * L + layer) * 2 + kv]: each sample plane quantized
// once with the plane's step; each channel's prediction chosen by its total cost.
Profile::LevelTables learn_level(const cachegen::LevelSpec& spec, std::span<const KvChunkView> chunks, int L,
                                 size_t nch) {
  Profile::LevelTables lt;
  lt.level = spec.id;
  int A = 1, nctx = 1;
  for (int l = 0; l < L; ++l)
    for (int kv = 0; kv < 2; ++kv) {
      const Plane p = cachegen::cachegen_plane(spec, L, l, kv, true);
      A = std::max(A, p.A);
      nctx = std::max(nctx, p.nctx);
    }
  lt.alphabet = static_cast<uint16_t>(A);
  lt.n_ctx = static_cast<uint16_t>(nctx);
  std::vector<std::vector<int16_t>> qs(chunks.size() * L * 2);
  std::vector<uint16_t> steps, offs;
  lt.pred.assign(static_cast<size_t>(L) * 2 * nch, 0);
  lt.steps.assign(static_cast<size_t>(L) * 2, 0.0f);
  for (int l = 0; l < L; ++l)
    for (int kv = 0; kv < 2; ++kv) {
      const Plane p = cachegen::cachegen_plane(spec, L, l, kv, true);
      const size_t plane = static_cast<size_t>(l) * 2 + kv;
      lt.steps[plane] = plane_step(p, chunks, l, kv);
      cachegen::PredictionChoice choice(p, static_cast<int>(nch));
      for (size_t ci = 0; ci < chunks.size(); ++ci) {
        auto& q = qs[(ci * L + l) * 2 + kv];
        const Geometry g = geometry_of(chunks[ci]);
        cachegen::quantize_plane(p, g, plane_of(chunks[ci], l, kv), &steps, &offs, &q, lt.steps[plane]);
        choice.add(g, q.data());
      }
      if (!p.delta) choice.choose(&lt.pred[plane * nch]);
    }
  const size_t rows = nch * nctx;
  std::vector<uint32_t> counts(static_cast<size_t>(L) * 2 * rows * A, 0);
  for (size_t ci = 0; ci < chunks.size(); ++ci)
    for (int l = 0; l < L; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const Plane p = cachegen::cachegen_plane(spec, L, l, kv, true);
        const size_t plane = static_cast<size_t>(l) * 2 + kv;
        uint32_t* base = &counts[plane * rows * A];
        cachegen::for_symbols(p, geometry_of(chunks[ci]), qs[(ci * L + l) * 2 + kv].data(), &lt.pred[plane * nch],
                              [&](int ch, int ctx, int sym, int) { ++base[(static_cast<size_t>(ch) * nctx + ctx) * A + sym]; });
      }
  // Every row floors its channel's reachable symbols, so any chunk can be coded.
  lt.freq.assign(counts.size(), 0);
  for (int l = 0; l < L; ++l)
    for (int kv = 0; kv < 2; ++kv) {
      const Plane p = cachegen::cachegen_plane(spec, L, l, kv, true);
      for (size_t r = 0; r < rows; ++r) {
        const size_t at = ((static_cast<size_t>(l) * 2 + kv) * rows + r) * A;
        int lo, hi;
        cachegen::sym_range(p, lt.pred[(static_cast<size_t>(l) * 2 + kv) * nch + r / nctx] != 0, &lo, &hi);
        rans::normalize(&counts[at + lo], hi - lo + 1, true, &lt.freq[at + lo]);
      }
    }
  return lt;
}

}  // namespace

Result<Profile> learn_profile(std::span<const KvChunkView> raw_chunks, uint64_t model_fingerprint,
                              const LearnOptions& options) {
  if (raw_chunks.empty()) return Status::InvalidArgument("learn_profile: no chunks");
  Profile::Data prof;
  prof.model_fingerprint = model_fingerprint;
  prof.shape = raw_chunks[0].shape;
  for (const auto& c : raw_chunks) {
    if (!(c.shape == prof.shape)) return Status::InvalidArgument("learn_profile: chunks differ in shape");
    if (c.elements() > 0 && (c.k == nullptr || c.v == nullptr)) return Status::InvalidArgument("learn_profile: null data");
    for (size_t i = 0; i < c.elements(); ++i)
      if (!std::isfinite(c.k[i]) || !std::isfinite(c.v[i])) return Status::InvalidArgument("learn_profile: non-finite value");
  }
  KVF_RETURN_IF_ERROR(learn_basis(raw_chunks, options, &prof));
  CodedChunks coded;
  to_coded(raw_chunks, prof, options, &coded);
  const size_t nch = static_cast<size_t>(prof.shape.n_kv_heads) * prof.shape.head_dim;
  for (const auto& spec : cachegen::levels()) prof.levels.push_back(learn_level(spec, coded.views, prof.shape.n_layers, nch));
  return Profile(std::move(prof));
}

}  // namespace kvforge::codec

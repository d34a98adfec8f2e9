// cachegen (kvforge's CacheGen) and cachegen-ref (LMCache's CacheGen as shipped).
//
// Both quantize each (layer, K/V) plane to integer symbols and entropy-code them
// with interleaved rANS, using one distribution per (layer, K/V, channel[, context]),
// channel = kv_head * head_dim + d.
//   cachegen-ref: step per (layer, token) = absmax over all kv heads' channels / Q,
//     Q = bins/2 - 1 with 32 bins (LMCache's schedule for < 10 layers), tables
//     shipped raw (u16 per symbol), no context, no delta.
//   cachegen: step per (layer, K/V, channel) = absmax over the chunk's tokens / Q with a
//     layer-wise bins schedule per level; symbol distributions conditioned on the
//     previous token's symbol in the same channel (context classes), or, when the
//     level uses token delta, anchors every 10 tokens and deltas against them;
//     tables shipped compactly or taken from a model Profile.
// Symbol order within a plane (docs/FORMAT.md): for kv_head h, for token block of
// 256, for channel group of 4 (lanes), for token t in the block, for lane i:
// symbol (h, t, d0 + i) is coded with rANS state i.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <xxhash.h>

#include "codec/codec_impl.h"
#include "codec/rans.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/file_io.h"
#include "kvforge/core/half.h"

namespace kvforge::codec {
namespace f = format;
using core::fp16_to_f32;

namespace {

struct LevelSpec {
  uint8_t id;
  int k_hi, k_lo;  // K bins: first ceil(L/3) layers, then the rest
  int v_hi, v_lo;  // V bins: first max(1, round(L/16)) layers, then the rest
  bool delta;      // token delta against anchors (else previous-token contexts)
  int nctx;        // context classes when !delta
};

// Level table (docs/FORMAT.md, "cachegen levels").
constexpr LevelSpec kLevels[] = {
    {1, 128, 96, 96, 64, false, 3},
    {2, 48, 32, 32, 24, false, 3},
    {3, 32, 24, 24, 16, false, 3},
    {4, 24, 16, 16, 12, false, 3},
    {5, 16, 12, 12, 8, false, 3},
};

const LevelSpec* find_level(int id) {
  for (const auto& l : kLevels)
    if (l.id == id) return &l;
  return nullptr;
}

// How one (layer, K/V) plane is coded.
struct Plane {
  int Q = 15;          // symbols q in [-Q, Q]
  int A = 31;          // alphabet size
  int nctx = 1;        // tables per channel
  bool delta = false;  // anchors + deltas (ctx 0 = anchor, ctx 1 = delta)
  bool per_token = false;
  bool raw_tables = false;
  int sym_of(int q) const { return q + (delta ? 2 * Q : Q); }
};

int k_hi_layers(int L) { return (L + 2) / 3; }
int v_hi_layers(int L) { return std::max(1, (L + 8) / 16); }

Plane cachegen_plane(const LevelSpec& s, int L, int layer, int kv) {
  Plane p;
  const int bins = kv == 0 ? (layer < k_hi_layers(L) ? s.k_hi : s.k_lo) : (layer < v_hi_layers(L) ? s.v_hi : s.v_lo);
  p.Q = bins / 2 - 1;
  p.delta = s.delta;
  p.A = s.delta ? 4 * p.Q + 1 : 2 * p.Q + 1;
  p.nctx = s.delta ? 2 : s.nctx;
  return p;
}

Plane ref_plane(int L) {
  Plane p;
  // LMCache: 32 bins for K and V on models under 10 layers; else K 32 for the first
  // third of layers then 16, V 32 for the first 2 layers then 16 (7B schedule).
  (void)L;
  p.Q = 32 / 2 - 1;
  p.A = 2 * p.Q + 1;
  p.per_token = true;
  p.raw_tables = true;
  return p;
}

Plane ref_plane_layer(int L, int layer, int kv) {
  Plane p = ref_plane(L);
  int bins = 32;
  if (L >= 10) bins = kv == 0 ? (layer < (L * 10 + 31) / 32 ? 32 : 16) : (layer < 2 ? 32 : 16);
  p.Q = bins / 2 - 1;
  p.A = 2 * p.Q + 1;
  return p;
}

// Context of a symbol given the previous token's symbol index (no-delta mode).
void ctx_lut(const Plane& p, std::vector<uint8_t>* lut) {
  lut->assign(p.A, 0);
  if (p.delta || p.nctx <= 1) return;
  for (int s = 0; s < p.A; ++s) (*lut)[s] = static_cast<uint8_t>((static_cast<int64_t>(s) * p.nctx) / p.A);
}

struct Geometry {
  int H, D;
  size_t T;
  int nch() const { return H * D; }
};

// Calls fn(h, d0, nl, t0, t1) for every (head, block, lane group) in stream order.
template <typename Fn>
void for_groups(const Geometry& g, Fn&& fn) {
  for (int h = 0; h < g.H; ++h) {
    for (size_t t0 = 0; t0 < g.T; t0 += f::kCacheGenTokenBlock) {
      const size_t t1 = std::min(g.T, t0 + f::kCacheGenTokenBlock);
      for (int d0 = 0; d0 < g.D; d0 += 4) fn(h, d0, std::min(4, g.D - d0), t0, t1);
    }
  }
}

void put_varint(std::string* s, uint32_t v) {
  while (v >= 0x80) {
    s->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s->push_back(static_cast<char>(v));
}

class In {
 public:
  In(const uint8_t* p, const uint8_t* e) : p_(p), e_(e) {}
  bool take(size_t n, const uint8_t** out) {
    if (static_cast<size_t>(e_ - p_) < n) return false;
    *out = p_;
    p_ += n;
    return true;
  }
  bool u8(uint32_t* v) {
    if (p_ >= e_) return false;
    *v = *p_++;
    return true;
  }
  bool varint(uint32_t* v) {
    uint32_t r = 0;
    for (int shift = 0; shift < 21; shift += 7) {
      if (p_ >= e_) return false;
      const uint8_t b = *p_++;
      r |= static_cast<uint32_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  const uint8_t* pos() const { return p_; }
  bool done() const { return p_ == e_; }

 private:
  const uint8_t* p_;
  const uint8_t* e_;
};

// ---------------------------------------------------------------- encoder side

// Quantizes one plane: steps (fp16 bits) and symbols q[(h*T+t)*D+d].
void quantize_plane(const Plane& p, const Geometry& g, const float* x, std::vector<uint16_t>* steps,
                    std::vector<int16_t>* q) {
  const size_t n = static_cast<size_t>(g.H) * g.T * g.D;
  q->resize(n);
  if (p.per_token) {
    steps->assign(g.T, 0);
    std::vector<float> inv(g.T);
    for (size_t t = 0; t < g.T; ++t) {
      float amax = 0;
      for (int h = 0; h < g.H; ++h)
        for (int d = 0; d < g.D; ++d) amax = std::max(amax, std::fabs(x[(h * g.T + t) * g.D + d]));
      (*steps)[t] = fp16_ceil(amax);
      const float step = fp16_to_f32((*steps)[t]) / static_cast<float>(p.Q);
      inv[t] = step > 0 ? 1.0f / step : 0.0f;
    }
    for (int h = 0; h < g.H; ++h)
      for (size_t t = 0; t < g.T; ++t)
        for (int d = 0; d < g.D; ++d) {
          const size_t i = (h * g.T + t) * g.D + d;
          (*q)[i] = static_cast<int16_t>(std::clamp<long>(std::lrint(x[i] * inv[t]), -p.Q, p.Q));
        }
    return;
  }
  const int nch = g.nch();
  steps->assign(nch, 0);
  std::vector<float> amax(nch, 0.0f);
  for (int h = 0; h < g.H; ++h)
    for (size_t t = 0; t < g.T; ++t)
      for (int d = 0; d < g.D; ++d)
        amax[h * g.D + d] = std::max(amax[h * g.D + d], std::fabs(x[(h * g.T + t) * g.D + d]));
  std::vector<float> inv(nch);
  for (int c = 0; c < nch; ++c) {
    (*steps)[c] = fp16_ceil(amax[c] / static_cast<float>(p.Q));
    const float s = fp16_to_f32((*steps)[c]);
    inv[c] = s > 0 ? 1.0f / s : 0.0f;
  }
  for (int h = 0; h < g.H; ++h)
    for (size_t t = 0; t < g.T; ++t)
      for (int d = 0; d < g.D; ++d) {
        const size_t i = (h * g.T + t) * g.D + d;
        (*q)[i] = static_cast<int16_t>(std::clamp<long>(std::lrint(x[i] * inv[h * g.D + d]), -p.Q, p.Q));
      }
}

// Calls fn(channel, ctx, sym) for every symbol of the plane, in stream order.
template <typename Fn>
void for_symbols(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, const std::vector<uint8_t>& lut,
                 Fn&& fn) {
  for_groups(g, [&](int h, int d0, int nl, size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      for (int i = 0; i < nl; ++i) {
        const int d = d0 + i, c = h * g.D + d;
        const size_t idx = (h * g.T + t) * g.D + d;
        int sym, ctx;
        if (p.delta) {
          const size_t ta = t - t % f::kDeltaGroup;
          if (t == ta) {
            sym = p.sym_of(q[idx]);
            ctx = 0;
          } else {
            sym = p.sym_of(q[idx] - q[(h * g.T + ta) * g.D + d]);
            ctx = 1;
          }
        } else {
          sym = p.sym_of(q[idx]);
          ctx = t == 0 ? lut[p.sym_of(0)] : lut[p.sym_of(q[idx - g.D])];
        }
        fn(c, ctx, sym, i);
      }
    }
  });
}

// Appends the rANS stream of a plane. freq: [channel][ctx][A].
void encode_stream(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, const std::vector<uint16_t>& freq,
                   std::string* out) {
  std::vector<uint8_t> lut;
  ctx_lut(p, &lut);
  std::vector<uint32_t> code;  // (table row << 8 | sym), lane in high bits
  code.reserve(q.size());
  for_symbols(p, g, q, lut, [&](int c, int ctx, int sym, int lane) {
    code.push_back((static_cast<uint32_t>(c * p.nctx + ctx) << 10) | (static_cast<uint32_t>(lane) << 8) |
                   static_cast<uint32_t>(sym));
  });
  // Cumulative starts per row.
  const size_t rows = static_cast<size_t>(g.nch()) * p.nctx;
  std::vector<uint16_t> start(rows * p.A);
  for (size_t r = 0; r < rows; ++r) {
    uint32_t c = 0;
    for (int s = 0; s < p.A; ++s) {
      start[r * p.A + s] = static_cast<uint16_t>(c);
      c += freq[r * p.A + s];
    }
  }
  rans::Encoder enc;
  uint32_t st[4] = {rans::kLow, rans::kLow, rans::kLow, rans::kLow};
  for (size_t i = code.size(); i-- > 0;) {
    const uint32_t row = code[i] >> 10, lane = (code[i] >> 8) & 3, sym = code[i] & 0xff;
    const size_t at = static_cast<size_t>(row) * p.A + sym;
    KVF_CHECK(freq[at] > 0);
    enc.put(st[lane], freq[at], start[at]);
  }
  std::string stream;
  enc.finish(st, &stream);
  f::put_u32(out, static_cast<uint32_t>(stream.size()));
  *out += stream;
}

// ---------------------------------------------------------------- decoder side

template <int NL, bool kDelta, bool kPerToken>
bool decode_group(const Plane& p, const Geometry& g, int h, int d0, size_t t0, size_t t1, const uint32_t* tabs,
                  const uint8_t* lut, const float* cstep, const float* tstep, uint32_t st[4], const uint8_t*& wp,
                  const uint8_t* wend, int16_t* prev, float* x) {
  constexpr uint32_t kMask = rans::kProbScale - 1;
  const int D = g.D;
  const int c0 = h * D + d0;
  const uint32_t* row[NL];
  float step[NL];
  int pv[NL];
  for (int i = 0; i < NL; ++i) {
    row[i] = tabs + static_cast<size_t>(c0 + i) * p.nctx * rans::kProbScale;
    step[i] = kPerToken ? 0.0f : cstep[c0 + i];
    pv[i] = prev[c0 + i];
  }
  const int off = kDelta ? 2 * p.Q : p.Q;
  const bool checked = static_cast<size_t>(wend - wp) < 2 * (t1 - t0) * NL;
  float* out = x + (static_cast<size_t>(h) * g.T + t0) * D + d0;
  uint32_t s[4] = {st[0], st[1], st[2], st[3]};
  for (size_t t = t0; t < t1; ++t, out += D) {
    const float ts = kPerToken ? tstep[t] : 0.0f;
    const bool anchor = kDelta && (t % f::kDeltaGroup) == 0;
    for (int i = 0; i < NL; ++i) {
      const uint32_t* tab = kDelta ? row[i] + (anchor ? 0 : rans::kProbScale)
                                   : row[i] + static_cast<size_t>(lut[pv[i] + off]) * rans::kProbScale;
      const uint32_t e = tab[s[i] & kMask];
      const int sym = static_cast<int>(e & 0xff);
      if (sym >= p.A) return false;
      s[i] = ((e >> 8) & 0xfff) * (s[i] >> rans::kProbBits) + (e >> 20);
      if (s[i] < rans::kLow) {
        if (checked && wp + 2 > wend) return false;
        s[i] = (s[i] << 16) | f::get_u16(wp);
        wp += 2;
      }
      int qv = sym - off;
      if (kDelta) {
        if (anchor) {
          if (qv < -p.Q || qv > p.Q) return false;
          pv[i] = qv;
        } else {
          qv += pv[i];
          if (qv < -p.Q || qv > p.Q) return false;
        }
      } else {
        pv[i] = qv;
      }
      out[i] = static_cast<float>(qv) * (kPerToken ? ts : step[i]);
    }
  }
  for (int i = 0; i < NL; ++i) prev[c0 + i] = static_cast<int16_t>(pv[i]);
  for (int i = 0; i < 4; ++i) st[i] = s[i];
  return true;
}

template <bool kDelta, bool kPerToken>
bool decode_plane_t(const Plane& p, const Geometry& g, const uint32_t* tabs, const uint8_t* lut, const float* cstep,
                    const float* tstep, uint32_t st[4], const uint8_t*& wp, const uint8_t* wend, float* x) {
  std::vector<int16_t> prev(g.nch(), 0);
  bool ok = true;
  for_groups(g, [&](int h, int d0, int nl, size_t t0, size_t t1) {
    if (!ok) return;
    switch (nl) {
      case 4: ok = decode_group<4, kDelta, kPerToken>(p, g, h, d0, t0, t1, tabs, lut, cstep, tstep, st, wp, wend, prev.data(), x); break;
      case 3: ok = decode_group<3, kDelta, kPerToken>(p, g, h, d0, t0, t1, tabs, lut, cstep, tstep, st, wp, wend, prev.data(), x); break;
      case 2: ok = decode_group<2, kDelta, kPerToken>(p, g, h, d0, t0, t1, tabs, lut, cstep, tstep, st, wp, wend, prev.data(), x); break;
      default: ok = decode_group<1, kDelta, kPerToken>(p, g, h, d0, t0, t1, tabs, lut, cstep, tstep, st, wp, wend, prev.data(), x); break;
    }
  });
  return ok;
}

// ---------------------------------------------------------------- tables

// Counts -> normalised rows [channel][ctx][A] (rows without symbols stay all-zero).
void build_freq(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, std::vector<uint16_t>* freq) {
  std::vector<uint8_t> lut;
  ctx_lut(p, &lut);
  const size_t rows = static_cast<size_t>(g.nch()) * p.nctx;
  std::vector<uint32_t> counts(rows * p.A, 0);
  for_symbols(p, g, q, lut, [&](int c, int ctx, int sym, int) { ++counts[(static_cast<size_t>(c) * p.nctx + ctx) * p.A + sym]; });
  freq->assign(rows * p.A, 0);
  for (size_t r = 0; r < rows; ++r) rans::normalize(&counts[r * p.A], p.A, false, &(*freq)[r * p.A]);
}

void write_tables(const Plane& p, const std::vector<uint16_t>& freq, std::string* out) {
  const size_t rows = freq.size() / p.A;
  for (size_t r = 0; r < rows; ++r) {
    const uint16_t* fr = &freq[r * p.A];
    if (p.raw_tables) {
      for (int s = 0; s < p.A; ++s) f::put_u16(out, fr[s]);
      continue;
    }
    int lo = 0, hi = p.A - 1;
    while (lo < p.A && fr[lo] == 0) ++lo;
    while (hi >= 0 && fr[hi] == 0) --hi;
    if (lo > hi) {  // empty row
      f::put_u8(out, 1);
      f::put_u8(out, 0);
      continue;
    }
    f::put_u8(out, static_cast<uint8_t>(lo));
    f::put_u8(out, static_cast<uint8_t>(hi));
    // The last frequency is implied (the row sums to 2^11).
    for (int s = lo; s < hi; ++s) put_varint(out, fr[s]);
  }
}

bool read_tables(const Plane& p, size_t rows, In* in, std::vector<uint16_t>* freq) {
  freq->assign(rows * p.A, 0);
  for (size_t r = 0; r < rows; ++r) {
    uint16_t* fr = &(*freq)[r * p.A];
    if (p.raw_tables) {
      const uint8_t* b;
      if (!in->take(2 * static_cast<size_t>(p.A), &b)) return false;
      uint32_t sum = 0;
      for (int s = 0; s < p.A; ++s) sum += fr[s] = f::get_u16(b + 2 * s);
      if (sum != 0 && sum != rans::kProbScale) return false;
      continue;
    }
    uint32_t lo, hi;
    if (!in->u8(&lo) || !in->u8(&hi)) return false;
    if (lo == 1 && hi == 0) continue;
    if (lo > hi || hi >= static_cast<uint32_t>(p.A)) return false;
    uint32_t sum = 0;
    for (uint32_t s = lo; s < hi; ++s) {
      uint32_t v;
      if (!in->varint(&v) || v > rans::kProbScale) return false;
      fr[s] = static_cast<uint16_t>(v);
      sum += v;
    }
    if (sum >= rans::kProbScale) return false;
    fr[hi] = static_cast<uint16_t>(rans::kProbScale - sum);
  }
  return true;
}

// ---------------------------------------------------------------- the codec

class CacheGenCodec final : public CodecImpl {
 public:
  // level == 0: cachegen-ref.
  // delta_mode: 0 = the level's default, 1 = off, 2 = on (frame header parameter).
  CacheGenCodec(int level, int delta_mode)
      : level_(level), delta_mode_(delta_mode), spec_(level ? find_level(level) : nullptr) {}
  std::string name() const override { return level_ ? "cachegen" : "cachegen-ref"; }
  std::string level() const override {
    if (!level_) return "";
    return std::to_string(level_) + (delta_mode_ == 1 ? ",delta=off" : delta_mode_ == 2 ? ",delta=on" : "");
  }
  uint32_t param() const override { return static_cast<uint32_t>(delta_mode_); }
  uint8_t codec_id() const override { return level_ ? f::kCacheGen : f::kCacheGenRef; }
  uint8_t level_id() const override { return static_cast<uint8_t>(level_); }
  bool supports_profile() const override { return level_ != 0; }

  Plane plane(int L, int layer, int kv) const {
    if (!level_) return ref_plane_layer(L, layer, kv);
    LevelSpec sp = *spec_;
    if (delta_mode_ != 0) sp.delta = delta_mode_ == 2;
    return cachegen_plane(sp, L, layer, kv);
  }

  size_t max_section_bytes(const KvChunkShape& s, size_t T) const override {
    const size_t nch = static_cast<size_t>(s.n_kv_heads) * s.head_dim;
    size_t total = 0;
    for (int kv = 0; kv < 2; ++kv) {
      size_t worst = 0;
      for (int l = 0; l < s.n_layers; ++l) {
        const Plane p = plane(s.n_layers, l, kv);
        const size_t steps = 2 * (p.per_token ? T : nch);
        const size_t tables = nch * p.nctx * (p.raw_tables ? 2 * p.A : 2 + 3 * p.A);
        // rANS: at most one 16-bit word per symbol, plus 4 states and the length.
        worst = std::max(worst, steps + tables + 4 + 16 + 2 * nch * T);
      }
      total += worst;
    }
    return total;
  }

  Status encode_section(const SectionCtx& c, const float* k, const float* v, std::string* out) const override {
    const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
    const float* xs[2] = {k, v};
    std::vector<uint16_t> steps, freq;
    std::vector<int16_t> q;
    for (int kv = 0; kv < 2; ++kv) {
      const Plane p = plane(c.shape.n_layers, c.layer, kv);
      quantize_plane(p, g, xs[kv], &steps, &q);
      for (uint16_t s : steps) f::put_u16(out, s);
      if (c.profile != nullptr) {
        KVF_RETURN_IF_ERROR(profile_rows(*c.profile, c.shape, c.layer, kv, p, &freq));
      } else {
        build_freq(p, g, q, &freq);
        write_tables(p, freq, out);
      }
      encode_stream(p, g, q, freq, out);
    }
    return Status::OK();
  }

  Status decode_section(const SectionCtx& c, std::string_view sec, float* k, float* v) const override {
    const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
    const auto* b = reinterpret_cast<const uint8_t*>(sec.data());
    In in(b, b + sec.size());
    float* xs[2] = {k, v};
    std::vector<uint16_t> freq;
    std::vector<float> steps;
    std::vector<uint32_t> tabs;
    std::vector<uint8_t> lut;
    for (int kv = 0; kv < 2; ++kv) {
      const Plane p = plane(c.shape.n_layers, c.layer, kv);
      const size_t n_steps = p.per_token ? g.T : static_cast<size_t>(g.nch());
      const uint8_t* sp;
      if (!in.take(2 * n_steps, &sp)) return Status::Corruption("truncated steps");
      steps.resize(n_steps);
      for (size_t i = 0; i < n_steps; ++i) {
        const float s = fp16_to_f32(f::get_u16(sp + 2 * i));
        if (!std::isfinite(s) || s < 0) return Status::Corruption("invalid step");
        steps[i] = p.per_token ? s / static_cast<float>(p.Q) : s;
      }
      const size_t rows = static_cast<size_t>(g.nch()) * p.nctx;
      if (c.profile != nullptr) {
        KVF_RETURN_IF_ERROR(profile_rows(*c.profile, c.shape, c.layer, kv, p, &freq));
      } else if (!read_tables(p, rows, &in, &freq)) {
        return Status::Corruption("invalid symbol tables");
      }
      // Decode tables; rows without symbols decode to an invalid symbol (caught below).
      tabs.assign(rows * rans::kProbScale, 0);
      for (size_t r = 0; r < rows; ++r) {
        bool any = false;
        for (int s = 0; s < p.A; ++s) any |= freq[r * p.A + s] != 0;
        rans::DecTable dt;
        if (any) {
          dt.build(&freq[r * p.A], p.A);
          std::copy(dt.e.begin(), dt.e.end(), tabs.begin() + r * rans::kProbScale);
        } else {
          // freq 2048 for symbol 255, never in range of a plane: decoding it fails.
          std::fill_n(tabs.begin() + r * rans::kProbScale, rans::kProbScale, 0xffu | (2048u << 8));
          for (uint32_t j = 0; j < rans::kProbScale; ++j) tabs[r * rans::kProbScale + j] |= j << 20;
        }
      }
      ctx_lut(p, &lut);
      lut.resize(256, 0);
      const uint8_t* lp;
      if (!in.take(4, &lp)) return Status::Corruption("truncated stream length");
      const uint32_t len = f::get_u32(lp);
      const uint8_t* sb;
      if (len < 16 || (len & 1) || !in.take(len, &sb)) return Status::Corruption("bad stream length");
      uint32_t st[4];
      for (int i = 0; i < 4; ++i) {
        st[i] = f::get_u32(sb + 4 * i);
        if (st[i] < rans::kLow) return Status::Corruption("bad rANS state");
      }
      const uint8_t* wp = sb + 16;
      const uint8_t* wend = sb + len;
      bool ok;
      // lut is indexed by symbol index; for delta planes it is unused.
      if (p.per_token) {
        ok = decode_plane_t<false, true>(p, g, tabs.data(), lut.data(), nullptr, steps.data(), st, wp, wend, xs[kv]);
      } else if (p.delta) {
        ok = decode_plane_t<true, false>(p, g, tabs.data(), lut.data(), steps.data(), nullptr, st, wp, wend, xs[kv]);
      } else {
        ok = decode_plane_t<false, false>(p, g, tabs.data(), lut.data(), steps.data(), nullptr, st, wp, wend, xs[kv]);
      }
      if (!ok) return Status::Corruption("symbol stream does not decode");
      if (wp != wend) return Status::Corruption("symbol stream has trailing bytes");
      for (int i = 0; i < 4; ++i)
        if (st[i] != rans::kLow) return Status::Corruption("symbol stream final state mismatch");
    }
    if (!in.done()) return Status::Corruption("trailing bytes in section");
    return Status::OK();
  }

  Status profile_rows(const Profile& prof, const KvChunkShape& shape, int layer, int kv, const Plane& p,
                      std::vector<uint16_t>* freq) const {
    const Profile::LevelTables* lt = prof.find(static_cast<uint8_t>(level_));
    if (lt == nullptr || lt->n_ctx != p.nctx || lt->alphabet < p.A || delta_mode_ != 0) {
      return Status::InvalidArgument("codec: profile has no tables for cachegen level " + level());
    }
    const size_t nch = static_cast<size_t>(shape.n_kv_heads) * shape.head_dim;
    const size_t rows = nch * p.nctx;
    freq->assign(rows * p.A, 0);
    const size_t base = (static_cast<size_t>(layer) * 2 + kv) * rows;
    for (size_t r = 0; r < rows; ++r) {
      const uint16_t* src = &lt->freq[(base + r) * lt->alphabet];
      std::copy(src, src + p.A, &(*freq)[r * p.A]);
    }
    return Status::OK();
  }

  int level_;
  int delta_mode_;
  const LevelSpec* spec_;
};

}  // namespace

std::vector<std::string> cachegen_level_names() {
  std::vector<std::string> v;
  for (const auto& l : kLevels) v.push_back(std::to_string(l.id));
  return v;
}

std::unique_ptr<CodecImpl> new_cachegen_ref() { return std::make_unique<CacheGenCodec>(0, 0); }
std::unique_ptr<CodecImpl> new_cachegen(int level, int delta_mode) {
  return std::make_unique<CacheGenCodec>(level, delta_mode);
}

// ---------------------------------------------------------------- profiles

namespace {
constexpr char kProfileMagic[4] = {'K', 'V', 'F', 'P'};
constexpr uint16_t kProfileVersion = 1;
}  // namespace

uint64_t Profile::id() const {
  const std::string s = serialize();
  const uint64_t h = XXH64(s.data(), s.size(), 0);
  return h == 0 ? 1 : h;
}

const Profile::LevelTables* Profile::find(uint8_t level) const {
  for (const auto& l : levels)
    if (l.level == level) return &l;
  return nullptr;
}

Status Profile::check_compatible(const KvChunkShape& s) const {
  if (!(s == shape)) {
    return Status::InvalidArgument("codec: profile is for shape " + std::to_string(shape.n_layers) + "x" +
                                   std::to_string(shape.n_kv_heads) + "x" + std::to_string(shape.head_dim) +
                                   ", chunk is " + std::to_string(s.n_layers) + "x" + std::to_string(s.n_kv_heads) +
                                   "x" + std::to_string(s.head_dim));
  }
  return Status::OK();
}

std::string Profile::serialize() const {
  std::string s(kProfileMagic, 4);
  f::put_u16(&s, kProfileVersion);
  f::put_u16(&s, 0);
  f::put_u64(&s, model_fingerprint);
  f::put_u32(&s, static_cast<uint32_t>(shape.n_layers));
  f::put_u32(&s, static_cast<uint32_t>(shape.n_kv_heads));
  f::put_u32(&s, static_cast<uint32_t>(shape.head_dim));
  f::put_u32(&s, static_cast<uint32_t>(levels.size()));
  for (const auto& l : levels) {
    f::put_u8(&s, l.level);
    f::put_u8(&s, 0);
    f::put_u16(&s, l.alphabet);
    f::put_u16(&s, l.n_ctx);
    f::put_u16(&s, 0);
    f::put_u64(&s, l.freq.size());
    for (uint16_t v : l.freq) f::put_u16(&s, v);
  }
  return s;
}

Result<Profile> Profile::parse(std::string_view bytes) {
  auto bad = [](const std::string& why) { return Status::Corruption("codec profile: " + why); };
  if (bytes.size() < 40 + 8) return bad("truncated");
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t body = bytes.size() - 8;
  if (std::memcmp(b, kProfileMagic, 4) != 0) return bad("bad magic");
  if (XXH64(b, body, 0) != f::get_u64(b + body)) return bad("checksum mismatch");
  if (f::get_u16(b + 4) != kProfileVersion) return Status::NotSupported("codec profile: unknown version");
  Profile p;
  p.model_fingerprint = f::get_u64(b + 8);
  const uint32_t L = f::get_u32(b + 16), H = f::get_u32(b + 20), D = f::get_u32(b + 24), n = f::get_u32(b + 28);
  if (L < 1 || L > f::kMaxLayers || H < 1 || H > f::kMaxKvHeads || D < 1 || D > f::kMaxHeadDim || n > 255) {
    return bad("shape out of limits");
  }
  p.shape = {static_cast<int>(L), static_cast<int>(H), static_cast<int>(D)};
  size_t at = 32;
  for (uint32_t i = 0; i < n; ++i) {
    if (body - at < 16) return bad("truncated");
    LevelTables lt;
    lt.level = b[at];
    lt.alphabet = f::get_u16(b + at + 2);
    lt.n_ctx = f::get_u16(b + at + 4);
    const uint64_t cnt = f::get_u64(b + at + 8);
    at += 16;
    const uint64_t expect = static_cast<uint64_t>(L) * 2 * H * D * lt.n_ctx * lt.alphabet;
    if (lt.alphabet < 1 || lt.alphabet > f::kMaxAlphabet || lt.n_ctx < 1 || lt.n_ctx > 16 || cnt != expect ||
        (body - at) / 2 < cnt) {
      return bad("level table size mismatch");
    }
    lt.freq.resize(cnt);
    for (uint64_t j = 0; j < cnt; ++j) lt.freq[j] = f::get_u16(b + at + 2 * j);
    at += 2 * cnt;
    // Every row must be a valid distribution over the plane's alphabet.
    const LevelSpec* spec = find_level(lt.level);
    if (spec == nullptr) return bad("unknown level");
    const size_t rows_per_plane = static_cast<size_t>(H) * D * lt.n_ctx;
    for (uint32_t l = 0; l < L; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const Plane pl = cachegen_plane(*spec, static_cast<int>(L), static_cast<int>(l), kv);
        if (pl.nctx != lt.n_ctx || pl.A > lt.alphabet) return bad("level table shape mismatch");
        for (size_t r = 0; r < rows_per_plane; ++r) {
          const uint16_t* row = &lt.freq[((static_cast<size_t>(l) * 2 + kv) * rows_per_plane + r) * lt.alphabet];
          uint32_t sum = 0;
          for (int s = 0; s < pl.A; ++s) {
            if (row[s] == 0) return bad("zero frequency in a row");
            sum += row[s];
          }
          if (sum != rans::kProbScale) return bad("row does not sum to 2^11");
        }
      }
    p.levels.push_back(std::move(lt));
  }
  if (at != body) return bad("trailing bytes");
  return p;
}

Result<Profile> learn_profile(std::span<const KvChunkView> chunks, uint64_t model_fingerprint) {
  if (chunks.empty()) return Status::InvalidArgument("learn_profile: no chunks");
  Profile prof;
  prof.model_fingerprint = model_fingerprint;
  prof.shape = chunks[0].shape;
  for (const auto& c : chunks) {
    if (!(c.shape == prof.shape)) return Status::InvalidArgument("learn_profile: chunks differ in shape");
    if (c.elements() > 0 && (c.k == nullptr || c.v == nullptr)) return Status::InvalidArgument("learn_profile: null data");
    for (size_t i = 0; i < c.elements(); ++i)
      if (!std::isfinite(c.k[i]) || !std::isfinite(c.v[i])) return Status::InvalidArgument("learn_profile: non-finite value");
  }
  const int L = prof.shape.n_layers;
  const size_t nch = static_cast<size_t>(prof.shape.n_kv_heads) * prof.shape.head_dim;
  for (const auto& spec : kLevels) {
    Profile::LevelTables lt;
    lt.level = spec.id;
    int A = 1, nctx = 1;
    for (int l = 0; l < L; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const Plane p = cachegen_plane(spec, L, l, kv);
        A = std::max(A, p.A);
        nctx = p.nctx;
      }
    lt.alphabet = static_cast<uint16_t>(A);
    lt.n_ctx = static_cast<uint16_t>(nctx);
    const size_t rows = nch * nctx;
    std::vector<uint32_t> counts(static_cast<size_t>(L) * 2 * rows * A, 0);
    std::vector<uint16_t> steps;
    std::vector<int16_t> q;
    std::vector<uint8_t> lut;
    for (const auto& c : chunks) {
      const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
      const size_t per_layer = static_cast<size_t>(g.H) * g.T * g.D;
      for (int l = 0; l < L; ++l)
        for (int kv = 0; kv < 2; ++kv) {
          const Plane p = cachegen_plane(spec, L, l, kv);
          quantize_plane(p, g, (kv ? c.v : c.k) + per_layer * l, &steps, &q);
          ctx_lut(p, &lut);
          uint32_t* base = &counts[(static_cast<size_t>(l) * 2 + kv) * rows * A];
          for_symbols(p, g, q, lut, [&](int ch, int ctx, int sym, int) { ++base[(static_cast<size_t>(ch) * nctx + ctx) * A + sym]; });
        }
    }
    lt.freq.assign(counts.size(), 0);
    for (int l = 0; l < L; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const Plane p = cachegen_plane(spec, L, l, kv);
        for (size_t r = 0; r < rows; ++r) {
          const size_t at = ((static_cast<size_t>(l) * 2 + kv) * rows + r) * A;
          rans::normalize(&counts[at], p.A, true, &lt.freq[at]);
        }
      }
    prof.levels.push_back(std::move(lt));
  }
  return prof;
}

Status save_profile(const std::string& path, const Profile& profile) {
  std::string s = profile.serialize();
  f::put_u64(&s, XXH64(s.data(), s.size(), 0));
  return core::write_file_atomic(path, s);
}

Result<Profile> load_profile(const std::string& path) {
  KVF_ASSIGN_OR_RETURN(std::string bytes, core::read_file(path));
  auto r = Profile::parse(bytes);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

}  // namespace kvforge::codec

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
// Symbol order within a plane (docs/FORMAT.md): lane groups j = (kv_head h, channels
// d0..d0+7), each through all tokens t, lane i: symbol (h, t, d0 + i) is coded with
// state i of stream j mod n (n = 1, or up to 4 streams when T >= 256). The decoder
// builds each group's decode tables just before the group runs (they stay in cache) and
// decodes the groups of different streams together (AVX2), so their latencies overlap.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "codec/codec_impl.h"
#include "codec/plane_basis.h"
#include "codec/rans.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/file_io.h"
#include "kvforge/core/half.h"

namespace kvforge::codec {
namespace f = format;
using core::fp16_to_f32;

namespace {

constexpr int kLanes = f::kRansStates;
static_assert(std::endian::native == std::endian::little, "the rANS fast path reads u16 words with memcpy");
constexpr uint32_t kSlots = rans::kProbScale;
// Decode table entry: sym (8 bits) | freq - 1 | slot - start | next context (2 bits).
constexpr int kBiasShift = 8 + rans::kProbBits;
constexpr int kCtxShift = 8 + 2 * rans::kProbBits;
static_assert(kCtxShift + 2 <= 32);

struct LevelSpec {
  uint8_t id;
  int k_first, k_rest;  // K bins: first ceil(L/3) layers, then the rest
  int v_first, v_rest;  // V bins: first max(1, round(L/16)) layers, then the rest
  bool delta;           // token delta against anchors (else per-channel prediction + contexts)
  int nctx;             // K context classes when !delta (V: 1)
  // Profile (basis) planes: bins of the first max(1, round(L/16)) layers, the last
  // layer, and the rest, for K and for V.
  int bk_first, bk_rest, bk_last;
  int bv_first, bv_rest, bv_last;
};

// Level table (docs/FORMAT.md, "cachegen levels"). Measured on stories260K: in raw
// channels the deeper layers are the sensitive ones (the reverse of CacheGen's 7B
// observation), so those schedules give the later layers more bins. In a profile's
// basis the first layer's values and the last layer matter most (one extra bin there
// lowers KL 3-10x more than anywhere else), so profile planes have their own schedule.
constexpr LevelSpec kLevels[] = {
    {1, 96, 128, 64, 96, false, 3, 48, 40, 64, 64, 40, 48},
    {2, 32, 48, 24, 32, false, 3, 24, 20, 40, 48, 16, 32},
    {3, 20, 28, 12, 20, false, 3, 16, 14, 32, 40, 12, 24},
    {4, 16, 24, 12, 16, false, 3, 12, 12, 28, 40, 10, 20},
    {5, 12, 16, 8, 12, false, 3, 10, 10, 20, 24, 8, 16},
};

const LevelSpec* find_level(int id) {
  for (const auto& l : kLevels)
    if (l.id == id) return &l;
  return nullptr;
}

// How one (layer, K/V) plane is coded.
struct Plane {
  int Q = 15;          // quantized values q in [-Q, Q]
  int A = 31;          // alphabet size
  int soff = 15;       // symbol = residual + soff
  int nctx = 1;        // tables per channel
  bool delta = false;  // anchors + deltas (ctx 0 = anchor, ctx 1 = delta)
  bool per_token = false;
  bool raw_tables = false;
  bool offset = false;  // per-channel fp16 offsets
  // Profile (basis) planes: one step for all components, S = geometric mean of
  // amax_c / Qnom, widened to amax_c / Q where S would clip (Q = 2 Qnom).
  bool basis = false;
  int Qnom = 15;
};

// Keeps a basis plane's alphabet 4Q+1 within 256 symbols (context LUTs index a byte).
constexpr int kMaxBasisQ = 63;

int k_first_layers(int L) { return (L + 2) / 3; }
int v_first_layers(int L) { return std::max(1, (L + 8) / 16); }

int basis_bins(int first, int rest, int last, int L, int layer) {
  if (layer < v_first_layers(L)) return first;
  return layer == L - 1 ? last : rest;
}

Plane cachegen_plane(const LevelSpec& s, int L, int layer, int kv, bool basis) {
  Plane p;
  int bins = kv == 0 ? (layer < k_first_layers(L) ? s.k_first : s.k_rest)
                     : (layer < v_first_layers(L) ? s.v_first : s.v_rest);
  if (basis) {
    bins = kv == 0 ? basis_bins(s.bk_first, s.bk_rest, s.bk_last, L, layer)
                   : basis_bins(s.bv_first, s.bv_rest, s.bv_last, L, layer);
  }
  p.Qnom = bins / 2 - 1;
  p.basis = basis;
  p.Q = basis ? std::min(kMaxBasisQ, 2 * p.Qnom) : p.Qnom;
  p.delta = s.delta;
  p.A = 4 * p.Q + 1;
  p.soff = 2 * p.Q;
  p.nctx = s.delta ? 2 : (kv == 0 ? s.nctx : 1);
  p.offset = kv == 0 || basis;
  return p;
}

Plane ref_plane_layer(int L, int layer, int kv) {
  // LMCache: 32 bins for K and V on models under 10 layers; else K 32 for the first
  // ~third of layers then 16, V 32 for the first 2 layers then 16 (7B schedule).
  Plane p;
  int bins = 32;
  if (L >= 10) bins = kv == 0 ? (layer < (L * 10 + 31) / 32 ? 32 : 16) : (layer < 2 ? 32 : 16);
  p.Q = bins / 2 - 1;
  p.A = 2 * p.Q + 1;
  p.soff = p.Q;
  p.per_token = true;
  p.raw_tables = true;
  return p;
}

// Context of the next symbol from the previous symbol of the channel (non-delta
// planes): direct channels by the previous q's position in [-Q, Q], predicted
// channels by the previous residual's magnitude. lut[256] so any byte indexes it.
void ctx_lut(const Plane& p, bool pred, std::array<uint8_t, 256>* lut) {
  lut->fill(0);
  if (p.delta || p.nctx <= 1) return;
  for (int s = 0; s < 256; ++s) {
    const int r = s - p.soff;
    int c;
    if (!pred) {
      const int q = std::clamp(r, -p.Q, p.Q);
      c = static_cast<int>((static_cast<int64_t>(q + p.Q) * p.nctx) / (2 * p.Q + 1));
    } else {
      const int a = std::abs(r);
      c = 0;
      for (int k = 1; k < p.nctx; ++k) {
        const int bound = std::max(k, p.Q >> (2 * (p.nctx - 1 - k) + 2));
        if (a > bound) c = k;
      }
    }
    (*lut)[s] = static_cast<uint8_t>(std::min(c, p.nctx - 1));
  }
}

// Symbol range a channel can produce: direct [soff-Q, soff+Q], predicted [soff-2Q, soff+2Q].
void sym_range(const Plane& p, bool pred, int* lo, int* hi) {
  const int w = (pred || p.delta) ? 2 * p.Q : p.Q;
  *lo = std::max(0, p.soff - w);
  *hi = std::min(p.A - 1, p.soff + w);
}

struct Geometry {
  int H, D;
  size_t T;
  int nch() const { return H * D; }
};

// Calls fn(h, d0, nl, t0, t1) for every (head, lane group) in stream order; a lane
// group's channels run through all tokens, so their tables stay in cache.
template <typename Fn>
void for_groups(const Geometry& g, Fn&& fn) {
  if (g.T == 0) return;
  for (int h = 0; h < g.H; ++h)
    for (int d0 = 0; d0 < g.D; d0 += kLanes) fn(h, d0, std::min(kLanes, g.D - d0), size_t{0}, g.T);
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
  bool done() const { return p_ == e_; }

 private:
  const uint8_t* p_;
  const uint8_t* e_;
};

// ---------------------------------------------------------------- encoder side

// Quantizes one plane: steps and offsets (fp16 bits) and values q[(h*T+t)*D+d].
// Basis planes: fixed_step > 0 is the profile's step for the plane (else one is
// derived from this chunk); *step_used (optional) receives the step before widening.
void quantize_plane(const Plane& p, const Geometry& g, const float* x, std::vector<uint16_t>* steps,
                    std::vector<uint16_t>* offs, std::vector<int16_t>* q, float fixed_step = 0,
                    float* step_used = nullptr) {
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
  offs->assign(p.offset ? nch : 0, 0);
  std::vector<float> off(nch, 0.0f), inv(nch);
  if (p.offset) {
    std::vector<float> lo(nch, INFINITY), hi(nch, -INFINITY);
    for (int h = 0; h < g.H; ++h)
      for (size_t t = 0; t < g.T; ++t)
        for (int d = 0; d < g.D; ++d) {
          const float v = x[(h * g.T + t) * g.D + d];
          lo[h * g.D + d] = std::min(lo[h * g.D + d], v);
          hi[h * g.D + d] = std::max(hi[h * g.D + d], v);
        }
    for (int c = 0; c < nch; ++c) {
      const float mid = g.T ? 0.5f * lo[c] + 0.5f * hi[c] : 0.0f;
      (*offs)[c] = core::f32_to_fp16(mid);
      off[c] = fp16_to_f32((*offs)[c]);
    }
  }
  std::vector<float> amax(nch, 0.0f);
  for (int h = 0; h < g.H; ++h)
    for (size_t t = 0; t < g.T; ++t)
      for (int d = 0; d < g.D; ++d) {
        const int c = h * g.D + d;
        amax[c] = std::max(amax[c], std::fabs(x[(h * g.T + t) * g.D + d] - off[c]));
      }
  std::vector<float> want(nch);
  for (int c = 0; c < nch; ++c) want[c] = amax[c] / static_cast<float>(p.Q);
  if (p.basis) {
    double log_sum = 0;
    int n = 0;
    for (int c = 0; c < nch; ++c)
      if (amax[c] > 0) {
        log_sum += std::log(static_cast<double>(amax[c]) / p.Qnom);
        ++n;
      }
    const float S = fixed_step > 0 ? fixed_step : n ? static_cast<float>(std::exp(log_sum / n)) : 0.0f;
    if (step_used != nullptr) *step_used = n ? static_cast<float>(std::exp(log_sum / n)) : 0.0f;
    // Components whose whole range is below S round to 0 (their step 2 amax keeps
    // them there); the rest share S unless it would clip them.
    for (int c = 0; c < nch; ++c) want[c] = std::max(want[c], std::min(S, 2 * amax[c]));
  }
  for (int c = 0; c < nch; ++c) {
    (*steps)[c] = fp16_ceil(want[c]);
    const float s = fp16_to_f32((*steps)[c]);
    inv[c] = s > 0 ? 1.0f / s : 0.0f;
  }
  for (int h = 0; h < g.H; ++h)
    for (size_t t = 0; t < g.T; ++t)
      for (int d = 0; d < g.D; ++d) {
        const int c = h * g.D + d;
        const size_t i = (h * g.T + t) * g.D + d;
        (*q)[i] = static_cast<int16_t>(std::clamp<long>(std::lrint((x[i] - off[c]) * inv[c]), -p.Q, p.Q));
      }
}

// Calls fn(channel, ctx, sym, lane) for every symbol of the plane, in stream order.
// pred[c]: channel c codes q - previous q.
template <typename Fn>
void for_symbols(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, const uint8_t* pred, Fn&& fn) {
  std::array<uint8_t, 256> lut[2];
  ctx_lut(p, false, &lut[0]);
  ctx_lut(p, true, &lut[1]);
  std::vector<int> prev_sym(g.nch(), p.soff);
  for_groups(g, [&](int h, int d0, int nl, size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      for (int i = 0; i < nl; ++i) {
        const int d = d0 + i, c = h * g.D + d;
        const size_t idx = (h * g.T + t) * g.D + d;
        int sym, ctx;
        if (p.delta) {
          const size_t ta = t - t % f::kDeltaGroup;
          if (t == ta) {
            sym = q[idx] + p.soff;
            ctx = 0;
          } else {
            sym = q[idx] - q[(h * g.T + ta) * g.D + d] + p.soff;
            ctx = 1;
          }
        } else {
          const bool pr = pred != nullptr && pred[c];
          const int r = (pr && t > 0) ? q[idx] - q[idx - g.D] : q[idx];
          sym = r + p.soff;
          ctx = lut[pr][prev_sym[c]];
          prev_sym[c] = sym;
        }
        fn(c, ctx, sym, i);
      }
    }
  });
}

// Chooses per channel whether to code q - previous q (zero-order entropy of both).
void choose_pred(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, std::vector<uint8_t>* pred) {
  pred->assign(g.nch(), 0);
  if (p.delta || p.per_token || g.T < 2) return;
  std::vector<uint32_t> h0(p.A), h1(p.A);
  auto bits = [&](const std::vector<uint32_t>& h) {
    double n = 0, s = 0;
    for (uint32_t v : h) n += v;
    for (uint32_t v : h)
      if (v) s -= v * std::log2(v / n);
    return s;
  };
  for (int h = 0; h < g.H; ++h)
    for (int d = 0; d < g.D; ++d) {
      std::fill(h0.begin(), h0.end(), 0);
      std::fill(h1.begin(), h1.end(), 0);
      for (size_t t = 0; t < g.T; ++t) {
        const size_t i = (h * g.T + t) * g.D + d;
        ++h0[q[i] + p.soff];
        ++h1[(t ? q[i] - q[i - g.D] : q[i]) + p.soff];
      }
      (*pred)[h * g.D + d] = bits(h1) < bits(h0) ? 1 : 0;
    }
}

// Streams per plane: lane group j (heads in order, then d0 = 0, 8, ...) goes to stream
// j mod n; several streams let the decoder interleave independent groups.
int n_streams(const Geometry& g) {
  const int ng = g.H * ((g.D + kLanes - 1) / kLanes);
  return g.T >= f::kMultiStreamMinTokens ? std::min(ng, f::kMaxStreams) : 1;
}

// Appends the rANS streams of a plane (each: u32 length, stream). freq: [channel][ctx][A].
void encode_stream(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, const uint8_t* pred,
                   const std::vector<uint16_t>& freq, std::string* out) {
  const int ns = n_streams(g), ngh = (g.D + kLanes - 1) / kLanes;
  std::vector<uint64_t> code;  // row << 13 | stream << 11 | lane << 8 | sym
  code.reserve(q.size());
  for_symbols(p, g, q, pred, [&](int c, int ctx, int sym, int lane) {
    const uint32_t j = static_cast<uint32_t>((c / g.D) * ngh + (c % g.D) / kLanes);
    code.push_back((static_cast<uint64_t>(c * p.nctx + ctx) << 13) | ((j % ns) << 11) |
                   (static_cast<uint64_t>(lane) << 8) | static_cast<uint64_t>(sym));
  });
  const size_t rows = static_cast<size_t>(g.nch()) * p.nctx;
  std::vector<uint16_t> start(rows * p.A);
  for (size_t r = 0; r < rows; ++r) {
    uint32_t c = 0;
    for (int s = 0; s < p.A; ++s) {
      start[r * p.A + s] = static_cast<uint16_t>(c);
      c += freq[r * p.A + s];
    }
  }
  rans::Encoder enc[f::kMaxStreams];
  uint32_t st[f::kMaxStreams][kLanes];
  for (auto& a : st)
    for (auto& s : a) s = rans::kLow;
  for (size_t i = code.size(); i-- > 0;) {
    const size_t row = code[i] >> 13;
    const uint32_t sid = (code[i] >> 11) & 3, lane = (code[i] >> 8) & 7, sym = code[i] & 0xff;
    const size_t at = row * p.A + sym;
    KVF_CHECK(freq[at] > 0);
    enc[sid].put(st[sid][lane], freq[at], start[at]);
  }
  for (int k = 0; k < ns; ++k) {
    std::string stream;
    enc[k].finish(st[k], &stream);
    f::put_u32(out, static_cast<uint32_t>(stream.size()));
    *out += stream;
  }
}

// ---------------------------------------------------------------- decoder side

// Decode table row (2^11 entries) of one (channel, context): entry =
//   sym | (freq - 1) << 8 | (slot - start) << 19 | ctx_next << 30,
// ctx_next = the context class of the symbol that follows `sym` in this channel
// (nxt[sym]), so the decoder's context costs no second lookup. Rows without symbols
// decode to symbol 255, which never lies in a plane's range. Writes up to 7 entries past
// the row (callers leave slack; a row built after it overwrites them).
void build_dec_row(const uint16_t* fr, int A, const uint8_t* nxt, uint32_t* e) {
  uint32_t c = 0;
  for (int s = 0; s < A; ++s) {
    const uint32_t fs = fr[s];
    if (fs == 0) continue;
    const uint32_t base = static_cast<uint32_t>(s) | ((fs - 1) << 8) | (static_cast<uint32_t>(nxt[s]) << kCtxShift);
    uint32_t* o = e + c;
#if defined(__x86_64__) || defined(__i386__)
    __m128i v0 = _mm_add_epi32(_mm_set1_epi32(static_cast<int>(base)),
                               _mm_setr_epi32(0, 1 << kBiasShift, 2 << kBiasShift, 3 << kBiasShift));
    const __m128i inc = _mm_set1_epi32(4 << kBiasShift), inc8 = _mm_set1_epi32(8 << kBiasShift);
    for (uint32_t j = 0; j < fs; j += 8, v0 = _mm_add_epi32(v0, inc8)) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + j), v0);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + j + 4), _mm_add_epi32(v0, inc));
    }
#else
    for (uint32_t j = 0; j < fs; ++j) o[j] = base | (j << kBiasShift);
#endif
    c += fs;
  }
  if (c == 0) {
    for (uint32_t j = 0; j < kSlots; ++j) e[j] = 0xffu | ((kSlots - 1) << 8) | (j << kBiasShift);
  }
}

inline uint32_t dec_freq(uint32_t e) { return ((e >> 8) & (kSlots - 1)) + 1; }
inline uint32_t dec_bias(uint32_t e) { return (e >> kBiasShift) & (kSlots - 1); }
inline uint32_t dec_ctxoff(uint32_t e) { return (e >> kBiasShift) & (3 * kSlots); }  // ctx_next * kSlots

// One lane group being decoded: its tables (lane i, ctx x at tab + i*stride + x*2^11),
// per-lane steps, offsets, prediction masks, and its stream.
struct GroupDec {
  const uint32_t* tab;
  uint32_t stride;
  int h, d0, nl;
  float step[kLanes], off[kLanes];
  int32_t pm[kLanes];     // -1: predicted channel
  uint32_t ctx0[kLanes];  // initial context offset (the context after symbol soff)
  uint32_t* st;           // kLanes states of the group's stream
  const uint8_t** wp;     // the stream's word pointer
  const uint8_t* wend;
  // Profile planes with basis blocks of 8 channels (one lane group): the block's
  // matrix, applied as values are written (x_row = y_row * mix, 8 x 8 row-major).
  const float* mix = nullptr;
};

// Scalar decoder of one lane group (NL lanes) in two passes per block of tokens:
// (1) the rANS lanes produce symbols, (2) symbols become values (prediction, range
// check, scale). Returns false on an invalid symbol or a short stream.
template <int NL, bool kDelta, bool kPerToken>
bool decode_group(const Plane& p, const Geometry& g, const float* tstep, const GroupDec& gd, float* x) {
  constexpr uint32_t kMask = kSlots - 1;
  constexpr bool kCtx = !kDelta && !kPerToken;
  constexpr size_t kStep = 128;
  const int D = g.D;
  uint32_t cur[NL], rowoff[NL];
  int32_t pq[NL];
  for (int i = 0; i < NL; ++i) {
    rowoff[i] = static_cast<uint32_t>(i) * gd.stride;
    cur[i] = rowoff[i] + (kCtx ? gd.ctx0[i] : 0);
    pq[i] = 0;
  }
  const uint32_t* tab = gd.tab;
  const int32_t soff = p.soff, Q = p.Q;
  const uint32_t span = static_cast<uint32_t>(2 * p.Q);
  uint32_t s[NL];
  for (int i = 0; i < NL; ++i) s[i] = gd.st[i];
  uint32_t bad = 0;
  const uint8_t* w = *gd.wp;
  const uint8_t* wend = gd.wend;
  alignas(64) uint8_t sym[kStep][NL];
  auto run = [&]<bool kFast>(size_t ta, size_t tb) -> bool {
    for (size_t t = ta; t < tb; ++t) {
      const uint32_t dctx = kDelta && (t % f::kDeltaGroup) != 0 ? kSlots : 0;
#pragma GCC unroll 8
      for (int i = 0; i < NL; ++i) {
        const uint32_t e = tab[(kDelta ? rowoff[i] + dctx : cur[i]) + (s[i] & kMask)];
        sym[t - ta][i] = static_cast<uint8_t>(e & 0xff);
        if constexpr (kCtx) cur[i] = rowoff[i] + dec_ctxoff(e);
        s[i] = dec_freq(e) * (s[i] >> rans::kProbBits) + dec_bias(e);
        if constexpr (kFast) {
          const uint32_t need = s[i] < rans::kLow;
          uint16_t word;
          std::memcpy(&word, w, 2);  // little-endian host (static_assert above)
          s[i] = need ? (s[i] << 16) | word : s[i];
          w += 2 * need;
        } else if (s[i] < rans::kLow) {
          if (w + 2 > wend) return false;
          s[i] = (s[i] << 16) | f::get_u16(w);
          w += 2;
        }
      }
    }
    return true;
  };
  for (size_t ta = 0; ta < g.T; ta += kStep) {
    const size_t tb = std::min(g.T, ta + kStep);
    if (static_cast<size_t>(wend - w) >= 2 * NL * (tb - ta)) {
      run.template operator()<true>(ta, tb);
    } else if (!run.template operator()<false>(ta, tb)) {
      return false;
    }
    float* out = x + (static_cast<size_t>(gd.h) * g.T + ta) * D + gd.d0;
    for (size_t t = ta; t < tb; ++t, out += D) {
      const float ts = kPerToken ? tstep[t] : 0.0f;
      const bool anchor = kDelta && (t % f::kDeltaGroup) == 0;
      float v[NL];
      for (int i = 0; i < NL; ++i) {
        int32_t qv = static_cast<int32_t>(sym[t - ta][i]) - soff;
        if (kDelta) {
          qv += anchor ? 0 : pq[i];
          pq[i] = anchor ? qv : pq[i];
        } else if (!kPerToken) {
          qv += pq[i] & gd.pm[i];
          pq[i] = qv;
        }
        bad |= static_cast<uint32_t>(qv + Q) > span;
        v[i] = kPerToken ? static_cast<float>(qv) * ts : static_cast<float>(qv) * gd.step[i] + gd.off[i];
      }
      if (NL == kLanes && gd.mix != nullptr) {
        for (int j = 0; j < NL; ++j) {
          float acc = 0;
          for (int i = 0; i < NL; ++i) acc += v[i] * gd.mix[i * kLanes + j];
          out[j] = acc;
        }
      } else {
        std::copy(v, v + NL, out);
      }
    }
  }
  *gd.wp = w;
  for (int i = 0; i < NL; ++i) gd.st[i] = s[i];
  return bad == 0;
}

#if defined(__x86_64__) || defined(__i386__)
#define KVF_CG_AVX2 1
// Renormalisation permutations: for a mask of lanes that take a word, lane i takes
// word popcount(mask & ((1 << i) - 1)).
struct RenormLut {
  alignas(32) uint32_t perm[256][8];
  RenormLut() {
    for (int m = 0; m < 256; ++m) {
      int k = 0;
      for (int i = 0; i < 8; ++i) {
        perm[m][i] = static_cast<uint32_t>(k);
        if (m >> i & 1) ++k;
      }
    }
  }
};
const RenormLut kRenormLut;

// NG full 8-lane groups from NG independent streams, vectorised with AVX2 and
// interleaved step by step (the groups' dependency chains overlap, hiding the gather
// latency): the same arithmetic as decode_group, so the same output and verdicts.
template <int NG, bool kDelta, bool kPerToken>
__attribute__((target("avx2,fma,popcnt"))) bool decode_groups8_avx2(const Plane& p, const Geometry& g, const float* tstep,
                                                                 const GroupDec* gds, float* x) {
  constexpr int NL = 8;
  constexpr bool kCtx = !kDelta && !kPerToken;
  constexpr size_t kStep = 128;
  const int D = g.D;
  const __m256i kMaskV = _mm256_set1_epi32(static_cast<int>(kSlots - 1));
  const __m256i k0xff = _mm256_set1_epi32(0xff), k0x7ff = _mm256_set1_epi32(static_cast<int>(kSlots - 1)),
                k0x1800 = _mm256_set1_epi32(static_cast<int>(3 * kSlots));
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i soffv = _mm256_set1_epi32(p.soff), qv0 = _mm256_set1_epi32(p.Q), spanv = _mm256_set1_epi32(2 * p.Q);
  __m256i rowv[NG], cur[NG], s[NG], pqv[NG], pmv[NG];
  __m256 stepv[NG], offv[NG];
  const uint8_t* w[NG];
  const int* base[NG];
  for (int k = 0; k < NG; ++k) {
    const GroupDec& gd = gds[k];
    const int st = static_cast<int>(gd.stride);
    rowv[k] = _mm256_setr_epi32(0, st, 2 * st, 3 * st, 4 * st, 5 * st, 6 * st, 7 * st);
    cur[k] = kCtx ? _mm256_add_epi32(rowv[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gd.ctx0))) : rowv[k];
    s[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gd.st));
    pqv[k] = _mm256_setzero_si256();
    pmv[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gd.pm));
    stepv[k] = _mm256_loadu_ps(gd.step);
    offv[k] = _mm256_loadu_ps(gd.off);
    w[k] = *gd.wp;
    base[k] = reinterpret_cast<const int*>(gd.tab);
  }
  __m256i badv = _mm256_setzero_si256();
  alignas(64) int32_t sym[NG][kStep][NL];
  for (size_t ta = 0; ta < g.T; ta += kStep) {
    const size_t tb = std::min(g.T, ta + kStep);
    bool fast = true;
    for (int k = 0; k < NG; ++k) fast &= static_cast<size_t>(gds[k].wend - w[k]) >= 2 * NL * (tb - ta);
    if (fast) {
      for (size_t t = ta; t < tb; ++t) {
        __m256i dctx = _mm256_setzero_si256();
        if constexpr (kDelta) dctx = _mm256_set1_epi32((t % f::kDeltaGroup) != 0 ? static_cast<int>(kSlots) : 0);
#pragma GCC unroll 4
        for (int k = 0; k < NG; ++k) {
          // Output lines of the next block: fetched for writing while this one decodes.
          if (t + kStep < g.T) __builtin_prefetch(x + (static_cast<size_t>(gds[k].h) * g.T + t + kStep) * D + gds[k].d0, 1, 3);
          const __m256i c = kDelta ? _mm256_add_epi32(rowv[k], dctx) : cur[k];
          const __m256i idx = _mm256_add_epi32(c, _mm256_and_si256(s[k], kMaskV));
          const __m256i e = _mm256_i32gather_epi32(base[k], idx, 4);
          _mm256_store_si256(reinterpret_cast<__m256i*>(sym[k][t - ta]), _mm256_and_si256(e, k0xff));
          const __m256i eb = _mm256_srli_epi32(e, kBiasShift);
          if constexpr (kCtx) cur[k] = _mm256_add_epi32(rowv[k], _mm256_and_si256(eb, k0x1800));
          const __m256i fr = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(e, 8), k0x7ff), one);
          __m256i sk = _mm256_add_epi32(_mm256_mullo_epi32(fr, _mm256_srli_epi32(s[k], rans::kProbBits)),
                                        _mm256_and_si256(eb, k0x7ff));
          const __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(sk, 16), _mm256_setzero_si256());
          const int m = _mm256_movemask_ps(_mm256_castsi256_ps(need));
          const __m256i words = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[k])));
          const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kRenormLut.perm[m]));
          const __m256i wl = _mm256_permutevar8x32_epi32(words, perm);
          s[k] = _mm256_blendv_epi8(sk, _mm256_or_si256(_mm256_slli_epi32(sk, 16), wl), need);
          w[k] += 2 * _mm_popcnt_u32(static_cast<unsigned>(m));
        }
      }
    } else {
      // Near a stream's end: scalar, checked.
      for (int k = 0; k < NG; ++k) {
        alignas(32) uint32_t sa[NL], ca[NL], ro[NL];
        _mm256_store_si256(reinterpret_cast<__m256i*>(sa), s[k]);
        _mm256_store_si256(reinterpret_cast<__m256i*>(ca), cur[k]);
        _mm256_store_si256(reinterpret_cast<__m256i*>(ro), rowv[k]);
        const uint32_t* tab = gds[k].tab;
        for (size_t t = ta; t < tb; ++t) {
          const uint32_t dctx = kDelta && (t % f::kDeltaGroup) != 0 ? kSlots : 0;
          for (int i = 0; i < NL; ++i) {
            const uint32_t e = tab[(kDelta ? ro[i] + dctx : ca[i]) + (sa[i] & (kSlots - 1))];
            sym[k][t - ta][i] = static_cast<int32_t>(e & 0xff);
            if constexpr (kCtx) ca[i] = ro[i] + dec_ctxoff(e);
            sa[i] = dec_freq(e) * (sa[i] >> rans::kProbBits) + dec_bias(e);
            if (sa[i] < rans::kLow) {
              if (w[k] + 2 > gds[k].wend) return false;
              sa[i] = (sa[i] << 16) | f::get_u16(w[k]);
              w[k] += 2;
            }
          }
        }
        s[k] = _mm256_load_si256(reinterpret_cast<const __m256i*>(sa));
        cur[k] = _mm256_load_si256(reinterpret_cast<const __m256i*>(ca));
      }
    }
    // Pass 2: values, token by token across the groups (their stores share cache lines).
    float* outk[NG];
    for (int k = 0; k < NG; ++k) outk[k] = x + (static_cast<size_t>(gds[k].h) * g.T + ta) * D + gds[k].d0;
    for (size_t t = ta; t < tb; ++t) {
#pragma GCC unroll 4
      for (int k = 0; k < NG; ++k) {
        __m256i q = _mm256_sub_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(sym[k][t - ta])), soffv);
        __m256 y;
        if constexpr (kDelta) {
          if (t % f::kDeltaGroup == 0) {
            pqv[k] = q;
          } else {
            q = _mm256_add_epi32(q, pqv[k]);
          }
          y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), stepv[k]), offv[k]);
        } else if constexpr (kPerToken) {
          y = _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(tstep[t]));
        } else {
          q = _mm256_add_epi32(q, _mm256_and_si256(pqv[k], pmv[k]));
          pqv[k] = q;
          y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), stepv[k]), offv[k]);
        }
        const __m256i qq = _mm256_add_epi32(q, qv0);
        badv = _mm256_or_si256(badv, _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), qq),
                                                     _mm256_cmpgt_epi32(qq, spanv)));
        if (gds[k].mix != nullptr) {
          const float* m = gds[k].mix;
          __m256 acc = _mm256_mul_ps(_mm256_permutevar8x32_ps(y, _mm256_set1_epi32(0)), _mm256_loadu_ps(m));
          for (int i = 1; i < kLanes; ++i) {
            acc = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(y, _mm256_set1_epi32(i)), _mm256_loadu_ps(m + i * kLanes),
                                  acc);
          }
          y = acc;
        }
        _mm256_storeu_ps(outk[k], y);
        outk[k] += D;
      }
    }
  }
  for (int k = 0; k < NG; ++k) {
    *gds[k].wp = w[k];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(gds[k].st), s[k]);
  }
  return _mm256_testz_si256(badv, badv) != 0;
}

// KVF_CODEC_NO_SIMD (read once) forces the scalar decoder, for tests.
bool use_avx2() {
  static const bool v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                        __builtin_cpu_supports("popcnt") &&
                        std::getenv("KVF_CODEC_NO_SIMD") == nullptr;
  return v;
}
#endif

template <bool kDelta, bool kPerToken>
bool decode_one(const Plane& p, const Geometry& g, const float* tstep, const GroupDec& gd, float* x) {
#ifdef KVF_CG_AVX2
  if (gd.nl == kLanes && use_avx2()) return decode_groups8_avx2<1, kDelta, kPerToken>(p, g, tstep, &gd, x);
#endif
  switch (gd.nl) {
    case 8: return decode_group<8, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 7: return decode_group<7, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 6: return decode_group<6, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 5: return decode_group<5, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 4: return decode_group<4, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 3: return decode_group<3, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 2: return decode_group<2, kDelta, kPerToken>(p, g, tstep, gd, x);
    default: return decode_group<1, kDelta, kPerToken>(p, g, tstep, gd, x);
  }
}

// Decodes n groups from n different streams together where all are full and AVX2 is
// on; else one after the other (the streams are independent).
template <bool kDelta, bool kPerToken>
bool decode_batch(const Plane& p, const Geometry& g, const float* tstep, const GroupDec* gds, int n, float* x) {
#ifdef KVF_CG_AVX2
  bool full = use_avx2();
  for (int k = 0; k < n; ++k) full &= gds[k].nl == kLanes;
  if (full && n == 2) return decode_groups8_avx2<2, kDelta, kPerToken>(p, g, tstep, gds, x);
  if (full && n == 3) return decode_groups8_avx2<3, kDelta, kPerToken>(p, g, tstep, gds, x);
  if (full && n == 4) return decode_groups8_avx2<4, kDelta, kPerToken>(p, g, tstep, gds, x);
#endif
  for (int k = 0; k < n; ++k)
    if (!decode_one<kDelta, kPerToken>(p, g, tstep, gds[k], x)) return false;
  return true;
}

// ---------------------------------------------------------------- tables

// Counts -> normalised rows [channel][ctx][A] (rows without symbols stay all-zero).
void build_freq(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, const uint8_t* pred,
                std::vector<uint16_t>* freq) {
  const size_t rows = static_cast<size_t>(g.nch()) * p.nctx;
  std::vector<uint32_t> counts(rows * p.A, 0);
  for_symbols(p, g, q, pred, [&](int c, int ctx, int sym, int) { ++counts[(static_cast<size_t>(c) * p.nctx + ctx) * p.A + sym]; });
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

}  // namespace

// ---------------------------------------------------------------- profile cache

struct Profile::Cache {
  std::mutex mu;
  // id, valid while the key matches.
  uint64_t id = 0;
  std::vector<const void*> id_key;
};

std::shared_ptr<Profile::Cache> Profile::new_cache() { return std::make_shared<Cache>(); }
std::shared_ptr<Profile::Cache> Profile::cache() const { return cache_; }

namespace {

std::vector<const void*> profile_key(const Profile& p) {
  std::vector<const void*> k = {reinterpret_cast<const void*>(static_cast<uintptr_t>(p.model_fingerprint)),
                                reinterpret_cast<const void*>(static_cast<uintptr_t>(p.shape.n_layers)),
                                reinterpret_cast<const void*>(static_cast<uintptr_t>(p.shape.n_kv_heads)),
                                reinterpret_cast<const void*>(static_cast<uintptr_t>(p.shape.head_dim))};
  k.push_back(p.weights.data());
  k.push_back(reinterpret_cast<const void*>(p.weights.size()));
  k.push_back(p.basis.data());
  k.push_back(reinterpret_cast<const void*>(p.basis.size()));
  k.push_back(reinterpret_cast<const void*>(static_cast<uintptr_t>(p.block)));
  k.push_back(reinterpret_cast<const void*>(static_cast<uintptr_t>(std::bit_cast<uint32_t>(p.rope_theta))));
  for (const auto& l : p.levels) {
    k.push_back(l.freq.data());
    k.push_back(reinterpret_cast<const void*>(l.freq.size()));
    k.push_back(l.pred.data());
    k.push_back(reinterpret_cast<const void*>(static_cast<uintptr_t>(l.level | l.alphabet << 8 | l.n_ctx << 24)));
  }
  return k;
}

}  // namespace

uint64_t Profile::id() const {
  auto key = profile_key(*this);
  {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (cache_->id != 0 && cache_->id_key == key) return cache_->id;
  }
  const std::string s = serialize();
  uint64_t h = XXH64(s.data(), s.size(), 0);
  if (h == 0) h = 1;
  std::lock_guard<std::mutex> lock(cache_->mu);
  cache_->id = h;
  cache_->id_key = std::move(key);
  return h;
}

namespace {

PlaneBasis basis_of(const Profile& prof, int layer, int kv) {
  const size_t C = static_cast<size_t>(prof.shape.n_kv_heads) * prof.shape.head_dim;
  const size_t plane = static_cast<size_t>(layer) * 2 + kv;
  PlaneBasis b;
  b.n_heads = prof.shape.n_kv_heads;
  b.head_dim = prof.shape.head_dim;
  b.block = static_cast<int>(prof.block);
  b.weights = prof.weights.data() + plane * C;
  b.basis = prof.basis.data() + plane * C * prof.block;
  b.rope_theta = kv == 0 ? prof.rope_theta : 0.0f;
  return b;
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

  Plane plane(int L, int layer, int kv, bool basis) const {
    if (!level_) return ref_plane_layer(L, layer, kv);
    LevelSpec sp = *spec_;
    if (delta_mode_ != 0) sp.delta = delta_mode_ == 2;
    return cachegen_plane(sp, L, layer, kv, basis);
  }

  size_t max_section_bytes(const KvChunkShape& s, size_t T) const override {
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

  // Profile rows and prediction flags of one plane.
  Status profile_plane(const Profile& prof, int layer, int kv, const Plane& p, const Profile::LevelTables** lt_out) const {
    const Profile::LevelTables* lt = prof.find(static_cast<uint8_t>(level_));
    if (lt == nullptr || delta_mode_ != 0 || lt->alphabet < p.A || lt->n_ctx < p.nctx) {
      return Status::InvalidArgument("codec: profile has no tables for cachegen level " + level());
    }
    (void)layer;
    (void)kv;
    *lt_out = lt;
    return Status::OK();
  }

  Status encode_section(const SectionCtx& c, const float* k, const float* v, std::string* out) const override {
    const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
    const size_t nch = static_cast<size_t>(g.nch());
    const float* xs[2] = {k, v};
    std::vector<uint16_t> steps, offs, freq;
    std::vector<int16_t> q;
    std::vector<uint8_t> pred;
    std::vector<float> coded;
    for (int kv = 0; kv < 2; ++kv) {
      const bool basis = c.profile != nullptr;
      const Plane p = plane(c.shape.n_layers, c.layer, kv, basis);
      const float* x = xs[kv];
      if (basis) {
        coded.resize(c.layer_elements());
        to_basis(basis_of(*c.profile, c.layer, kv), g.T, c.first_position, x, coded.data());
        x = coded.data();
      }
      const Profile::LevelTables* lt = nullptr;
      float fixed_step = 0;
      if (c.profile != nullptr) {
        KVF_RETURN_IF_ERROR(profile_plane(*c.profile, c.layer, kv, p, &lt));
        const size_t plane_index = static_cast<size_t>(c.layer) * 2 + kv;
        if (plane_index < lt->steps.size()) fixed_step = lt->steps[plane_index];
      }
      quantize_plane(p, g, x, &steps, &offs, &q, fixed_step);
      for (uint16_t s : steps) f::put_u16(out, s);
      for (uint16_t s : offs) f::put_u16(out, s);
      if (lt != nullptr) {
        const size_t rows = nch * lt->n_ctx, base = (static_cast<size_t>(c.layer) * 2 + kv) * rows;
        pred.assign(lt->pred.begin() + (static_cast<size_t>(c.layer) * 2 + kv) * nch,
                    lt->pred.begin() + (static_cast<size_t>(c.layer) * 2 + kv + 1) * nch);
        freq.assign(nch * p.nctx * p.A, 0);
        for (size_t ch = 0; ch < nch; ++ch)
          for (int x = 0; x < p.nctx; ++x) {
            const uint16_t* src = &lt->freq[(base + ch * lt->n_ctx + x) * lt->alphabet];
            std::copy(src, src + p.A, &freq[(ch * p.nctx + x) * p.A]);
          }
        // Symbols outside a profile row's support cannot be coded: fall back is impossible,
        // so the profile guarantees every reachable symbol (learn_profile floors them).
      } else {
        if (!p.per_token && !p.delta) {
          choose_pred(p, g, q, &pred);
          std::string bits((nch + 7) / 8, '\0');
          for (size_t ch = 0; ch < nch; ++ch)
            if (pred[ch]) bits[ch / 8] = static_cast<char>(bits[ch / 8] | (1 << (ch % 8)));
          *out += bits;
        } else {
          pred.assign(nch, 0);
        }
        build_freq(p, g, q, pred.data(), &freq);
        write_tables(p, freq, out);
      }
      encode_stream(p, g, q, pred.data(), freq, out);
    }
    return Status::OK();
  }

  Status decode_section(const SectionCtx& c, std::string_view sec, float* k, float* v) const override {
    const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
    const size_t nch = static_cast<size_t>(g.nch());
    const auto* b = reinterpret_cast<const uint8_t*>(sec.data());
    In in(b, b + sec.size());
    float* xs[2] = {k, v};
    std::vector<uint16_t> freq;
    std::vector<float> steps, offs;
    std::unique_ptr<uint32_t[]> tabs;
    size_t tabs_n = 0;
    std::vector<uint8_t> pred;
    std::vector<float> mixes;
    for (int kv = 0; kv < 2; ++kv) {
      const Plane p = plane(c.shape.n_layers, c.layer, kv, c.profile != nullptr);
      const size_t n_steps = p.per_token ? g.T : nch;
      const uint8_t* sp;
      if (!in.take(2 * n_steps, &sp)) return Status::Corruption("truncated steps");
      steps.resize(n_steps);
      for (size_t i = 0; i < n_steps; ++i) {
        const float s = fp16_to_f32(f::get_u16(sp + 2 * i));
        if (!std::isfinite(s) || s < 0) return Status::Corruption("invalid step");
        steps[i] = p.per_token ? s / static_cast<float>(p.Q) : s;
      }
      offs.clear();
      if (p.offset) {
        if (!in.take(2 * nch, &sp)) return Status::Corruption("truncated offsets");
        offs.resize(nch);
        for (size_t i = 0; i < nch; ++i) {
          offs[i] = fp16_to_f32(f::get_u16(sp + 2 * i));
          if (!std::isfinite(offs[i])) return Status::Corruption("invalid offset");
        }
      }
      // Frequency rows: row (ch, x) at fbase + (ch * fnctx + x) * fA.
      const uint16_t* fbase;
      size_t fnctx, fA;
      const uint8_t* pflags = nullptr;
      const size_t rows = nch * p.nctx;
      if (c.profile != nullptr) {
        const Profile::LevelTables* lt;
        KVF_RETURN_IF_ERROR(profile_plane(*c.profile, c.layer, kv, p, &lt));
        pflags = lt->pred.data() + (static_cast<size_t>(c.layer) * 2 + kv) * nch;
        fnctx = lt->n_ctx;
        fA = lt->alphabet;
        fbase = lt->freq.data() + (static_cast<size_t>(c.layer) * 2 + kv) * nch * fnctx * fA;
      } else {
        if (!p.per_token && !p.delta) {
          const uint8_t* pb;
          if (!in.take((nch + 7) / 8, &pb)) return Status::Corruption("truncated prediction flags");
          pred.assign(nch, 0);
          for (size_t ch = 0; ch < nch; ++ch) pred[ch] = (pb[ch / 8] >> (ch % 8)) & 1;
          if (nch % 8 && (pb[nch / 8] >> (nch % 8)) != 0) return Status::Corruption("invalid prediction flags");
          pflags = pred.data();
        }
        if (!read_tables(p, rows, &in, &freq)) return Status::Corruption("invalid symbol tables");
        fbase = freq.data();
        fnctx = p.nctx;
        fA = p.A;
      }
      std::array<uint8_t, 256> lut8[2];
      for (int m = 0; m < 2; ++m) ctx_lut(p, m == 1, &lut8[m]);
      // Streams.
      const int ns = n_streams(g);
      uint32_t st[f::kMaxStreams][kLanes];
      const uint8_t* wp[f::kMaxStreams];
      const uint8_t* wend[f::kMaxStreams];
      for (int k2 = 0; k2 < ns; ++k2) {
        const uint8_t* lp;
        if (!in.take(4, &lp)) return Status::Corruption("truncated stream length");
        const uint32_t len = f::get_u32(lp);
        const uint8_t* sb;
        if (len < 4 * kLanes || (len & 1) || !in.take(len, &sb)) return Status::Corruption("bad stream length");
        for (int i = 0; i < kLanes; ++i) {
          st[k2][i] = f::get_u32(sb + 4 * i);
          if (st[k2][i] < rans::kLow) return Status::Corruption("bad rANS state");
        }
        wp[k2] = sb + 4 * kLanes;
        wend[k2] = sb + len;
      }
      // Lane groups in batches of ns (group j uses stream j mod ns); each batch's decode
      // tables are built just before it runs, so they stay in cache.
      const uint32_t stride = static_cast<uint32_t>(p.nctx) * kSlots;
      const size_t ntab = static_cast<size_t>(ns) * kLanes * stride + 16;  // + slack for build_dec_row
      if (ntab > tabs_n) {
        tabs.reset(new uint32_t[ntab]);  // uninitialised: every row read is built first
        tabs_n = ntab;
      }
      GroupDec gds[f::kMaxStreams];
      int nb = 0;
      bool ok = true;
      auto flush = [&] {
        if (!ok || nb == 0) return;
        const float* ts = steps.data();
        if (p.per_token) ok = decode_batch<false, true>(p, g, ts, gds, nb, xs[kv]);
        else if (p.delta) ok = decode_batch<true, false>(p, g, ts, gds, nb, xs[kv]);
        else ok = decode_batch<false, false>(p, g, ts, gds, nb, xs[kv]);
        nb = 0;
      };
      // Basis blocks of 8 channels coincide with lane groups: the decoder applies them.
      PlaneBasis pbasis;
      bool fused = false;
      if (c.profile != nullptr) {
        pbasis = basis_of(*c.profile, c.layer, kv);
        fused = pbasis.block == kLanes && g.D % kLanes == 0;
        if (fused) {
          mixes.resize(nch * kLanes);
          for (size_t blk = 0; blk < nch / kLanes; ++blk) backward_matrix(pbasis, static_cast<int>(blk), &mixes[blk * kLanes * kLanes]);
        }
      }
      int j = 0;
      for_groups(g, [&](int h, int d0, int nl, size_t, size_t) {
        GroupDec& gd = gds[nb];
        gd.mix = fused ? &mixes[(static_cast<size_t>(h) * g.D + d0) * kLanes] : nullptr;
        const int sid = j % ns;
        gd.tab = tabs.get() + static_cast<size_t>(nb) * kLanes * stride;
        gd.stride = stride;
        gd.h = h;
        gd.d0 = d0;
        gd.nl = nl;
        gd.st = st[sid];
        gd.wp = &wp[sid];
        gd.wend = wend[sid];
        for (int i = 0; i < kLanes; ++i) {
          const size_t ch = static_cast<size_t>(h) * g.D + d0 + std::min(i, nl - 1);
          const bool pr = pflags != nullptr && pflags[ch] != 0;
          gd.pm[i] = pr ? -1 : 0;
          gd.step[i] = p.per_token ? 0.0f : steps[ch];
          gd.off[i] = offs.empty() ? 0.0f : offs[ch];
          gd.ctx0[i] = static_cast<uint32_t>(lut8[pr][p.soff]) * kSlots;
          if (i < nl)
            for (int x = 0; x < p.nctx; ++x)
              build_dec_row(fbase + (ch * fnctx + x) * fA, p.A, lut8[pr].data(), const_cast<uint32_t*>(gd.tab) + i * stride + x * kSlots);
        }
        ++nb;
        ++j;
        if (nb == ns) flush();
      });
      flush();
      if (!ok) return Status::Corruption("symbol stream does not decode");
      for (int k2 = 0; k2 < ns; ++k2) {
        if (wp[k2] != wend[k2]) return Status::Corruption("symbol stream has trailing bytes");
        for (int i = 0; i < kLanes; ++i)
          if (st[k2][i] != rans::kLow) return Status::Corruption("symbol stream final state mismatch");
      }
      if (fused) rotate_to_positions(pbasis, g.T, c.first_position, xs[kv]);
      else if (c.profile != nullptr) from_basis(pbasis, g.T, c.first_position, xs[kv], xs[kv]);
    }
    if (!in.done()) return Status::Corruption("trailing bytes in section");
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
constexpr uint16_t kProfileVersion = 3;
// Basis blocks are checked for orthonormality when a profile is read (block^3 work).
constexpr uint32_t kMaxBasisBlock = 256;

void put_f32(std::string* s, float v) { f::put_u32(s, std::bit_cast<uint32_t>(v)); }
float get_f32(const uint8_t* p) { return std::bit_cast<float>(f::get_u32(p)); }

// A layer's channels together when there are few (<= 64); else the largest divisor
// of head_dim <= 8: decoding costs `block` multiply-adds per value, and 8 keeps a
// 1B-class KV decoding near 1 GB/s per core (16: 0.85, 64: 0.65, measured).
constexpr int kDefaultMaxBlock = 8;
int default_block(const KvChunkShape& s) {
  const int C = s.n_kv_heads * s.head_dim;
  if (C <= 64) return C;
  for (int b = std::min(s.head_dim, kDefaultMaxBlock); b > 1; --b)
    if (s.head_dim % b == 0) return b;
  return 1;
}

// A block covers whole heads or lies within one (the transform copies runs of
// contiguous channels).
bool valid_block(int block, int head_dim, int channels) {
  if (block < 1 || block > static_cast<int>(kMaxBasisBlock) || channels % block != 0) return false;
  return block % head_dim == 0 || head_dim % block == 0;
}
}  // namespace

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
  put_f32(&s, rope_theta);
  f::put_u32(&s, block);
  for (float w : weights) put_f32(&s, w);
  for (float u : basis) put_f32(&s, u);
  for (const auto& l : levels) {
    f::put_u8(&s, l.level);
    f::put_u8(&s, 0);
    f::put_u16(&s, l.alphabet);
    f::put_u16(&s, l.n_ctx);
    f::put_u16(&s, 0);
    f::put_u64(&s, l.freq.size());
    for (uint16_t v : l.freq) f::put_u16(&s, v);
    for (uint8_t v : l.pred) f::put_u8(&s, v);
    for (float v : l.steps) put_f32(&s, v);
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
  if (body - at < 8) return bad("truncated");
  p.rope_theta = get_f32(b + at);
  p.block = f::get_u32(b + at + 4);
  at += 8;
  const uint64_t C = static_cast<uint64_t>(H) * D;
  if (!(p.rope_theta >= 0 && p.rope_theta < 1e12f)) return bad("invalid rope_theta");
  if (!valid_block(static_cast<int>(p.block), static_cast<int>(D), static_cast<int>(C))) return bad("invalid basis block");
  const uint64_t n_weights = static_cast<uint64_t>(L) * 2 * C, n_basis = n_weights * p.block;
  if ((body - at) / 4 < n_weights + n_basis) return bad("truncated");
  p.weights.resize(n_weights);
  for (uint64_t i = 0; i < n_weights; ++i) {
    p.weights[i] = get_f32(b + at + 4 * i);
    if (!(p.weights[i] >= 1e-20f && p.weights[i] <= 1e20f)) return bad("channel weight out of range");
  }
  at += 4 * n_weights;
  p.basis.resize(n_basis);
  for (uint64_t i = 0; i < n_basis; ++i) {
    p.basis[i] = get_f32(b + at + 4 * i);
    if (!std::isfinite(p.basis[i])) return bad("non-finite basis");
  }
  at += 4 * n_basis;
  // Orthonormal blocks keep decoding's error bound (and its values finite).
  const size_t B = p.block;
  for (size_t blk = 0; blk < n_basis / (B * B); ++blk) {
    const float* u = &p.basis[blk * B * B];
    for (size_t i = 0; i < B; ++i)
      for (size_t j = i; j < B; ++j) {
        double dot = 0;
        for (size_t c = 0; c < B; ++c) dot += static_cast<double>(u[c * B + i]) * u[c * B + j];
        if (std::fabs(dot - (i == j ? 1.0 : 0.0)) > 1e-3) return bad("basis block is not orthonormal");
      }
  }
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
    const size_t npred = static_cast<size_t>(L) * 2 * H * D;
    if (body - at < npred) return bad("truncated");
    lt.pred.assign(b + at, b + at + npred);
    at += npred;
    for (uint8_t v : lt.pred)
      if (v > 1) return bad("invalid prediction flag");
    if ((body - at) / 4 < static_cast<size_t>(L) * 2) return bad("truncated");
    lt.steps.resize(static_cast<size_t>(L) * 2);
    for (size_t j = 0; j < lt.steps.size(); ++j) {
      lt.steps[j] = get_f32(b + at + 4 * j);
      if (!(lt.steps[j] >= 0 && lt.steps[j] < 1e30f)) return bad("invalid plane step");
    }
    at += 4 * lt.steps.size();
    // Every row must be a valid distribution over the plane's alphabet.
    const LevelSpec* spec = find_level(lt.level);
    if (spec == nullptr) return bad("unknown level");
    const size_t rows_per_plane = static_cast<size_t>(H) * D * lt.n_ctx;
    for (uint32_t l = 0; l < L; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const Plane pl = cachegen_plane(*spec, static_cast<int>(L), static_cast<int>(l), kv, true);
        if (pl.nctx > lt.n_ctx || pl.A > lt.alphabet) return bad("level table shape mismatch");
        for (size_t r = 0; r < rows_per_plane; ++r) {
          const size_t ch = r / lt.n_ctx;
          int lo, hi;
          sym_range(pl, lt.pred[(static_cast<size_t>(l) * 2 + kv) * H * D + ch] != 0, &lo, &hi);
          const uint16_t* row = &lt.freq[((static_cast<size_t>(l) * 2 + kv) * rows_per_plane + r) * lt.alphabet];
          uint32_t sum = 0;
          for (int s = 0; s < lt.alphabet; ++s) {
            if (s >= lo && s <= hi && row[s] == 0) return bad("zero frequency in a row");
            if (s >= pl.A && row[s] != 0) return bad("frequency outside the plane's alphabet");
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

namespace {

// Weights and basis of every plane from the sample chunks: per block, the
// eigenvectors of the weighted, un-rotated channels' covariance (each chunk's own
// mean removed, as the encoder removes it with per-chunk offsets).
Status learn_basis(std::span<const KvChunkView> chunks, const LearnOptions& o, Profile* prof) {
  const KvChunkShape& sh = prof->shape;
  const int L = sh.n_layers;
  const size_t C = static_cast<size_t>(sh.n_kv_heads) * sh.head_dim;
  if (!o.first_positions.empty() && o.first_positions.size() != chunks.size()) {
    return Status::InvalidArgument("learn_profile: first_positions must have one entry per chunk");
  }
  for (int32_t p : o.first_positions)
    if (p < 0) return Status::InvalidArgument("learn_profile: negative first position");
  if (!(o.rope_theta >= 0 && o.rope_theta < 1e12f)) return Status::InvalidArgument("learn_profile: invalid rope_theta");
  for (const auto* ws : {&o.key_weights, &o.value_weights}) {
    if (!ws->empty() && ws->size() != static_cast<size_t>(L) * C) {
      return Status::InvalidArgument("learn_profile: key/value weights must hold n_layers * n_kv_heads * head_dim values");
    }
    for (float w : *ws)
      if (!(w >= 0 && std::isfinite(w))) return Status::InvalidArgument("learn_profile: weights must be finite and >= 0");
  }
  const int B = o.block ? o.block : default_block(sh);
  if (!valid_block(B, sh.head_dim, static_cast<int>(C))) {
    return Status::InvalidArgument("learn_profile: basis block " + std::to_string(B) + " must divide " +
                                   std::to_string(C) + " channels, divide or be a multiple of head_dim " +
                                   std::to_string(sh.head_dim) + ", and be <= 256");
  }
  prof->rope_theta = o.rope_theta;
  prof->block = static_cast<uint32_t>(B);
  prof->weights.assign(static_cast<size_t>(L) * 2 * C, 1.0f);
  for (int plane = 0; plane < 2 * L; ++plane) {
    const int l = plane / 2, kv = plane % 2;
    const std::vector<float>& given = kv == 0 ? o.key_weights : o.value_weights;
    if (given.empty()) continue;
    // Scaled to geometric mean 1 (only ratios matter), floored so every weight is > 0.
    // With RoPE undone, a pair (2i, 2i+1) shares one weight: the rotation mixes the
    // two, and equal weights let the error bound pass through it unchanged.
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
  std::vector<float> identity(C * B, 0.0f);
  for (size_t blk = 0; blk < C / B; ++blk)
    for (int i = 0; i < B; ++i) identity[(blk * B + i) * B + i] = 1.0f;
  prof->basis.assign(static_cast<size_t>(L) * 2 * C * B, 0.0f);
  std::vector<float> y;
  for (int l = 0; l < L; ++l)
    for (int kv = 0; kv < 2; ++kv) {
      PlaneBasis pb = basis_of(*prof, l, kv);
      pb.basis = identity.data();
      std::vector<double> cov(C * B, 0.0);  // per block: B x B
      for (size_t ci = 0; ci < chunks.size(); ++ci) {
        const KvChunkView& c = chunks[ci];
        const size_t T = c.n_tokens;
        if (T == 0) continue;
        const size_t per_layer = C * T;
        y.resize(per_layer);
        to_basis(pb, T, o.first_positions.empty() ? 0 : o.first_positions[ci], (kv ? c.v : c.k) + per_layer * l,
                 y.data());
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
      float* out = &prof->basis[(static_cast<size_t>(l) * 2 + kv) * C * B];
      std::vector<double> vec, val;
      for (size_t blk = 0; blk < C / B; ++blk) {
        symmetric_eigen(B, std::vector<double>(cov.begin() + blk * B * B, cov.begin() + (blk + 1) * B * B), &vec, &val);
        for (int i = 0; i < B * B; ++i) out[blk * B * B + i] = static_cast<float>(vec[i]);
      }
    }
  return Status::OK();
}

}  // namespace

Result<Profile> learn_profile(std::span<const KvChunkView> raw_chunks, uint64_t model_fingerprint,
                              const LearnOptions& options) {
  if (raw_chunks.empty()) return Status::InvalidArgument("learn_profile: no chunks");
  Profile prof;
  prof.model_fingerprint = model_fingerprint;
  prof.shape = raw_chunks[0].shape;
  for (const auto& c : raw_chunks) {
    if (!(c.shape == prof.shape)) return Status::InvalidArgument("learn_profile: chunks differ in shape");
    if (c.elements() > 0 && (c.k == nullptr || c.v == nullptr)) return Status::InvalidArgument("learn_profile: null data");
    for (size_t i = 0; i < c.elements(); ++i)
      if (!std::isfinite(c.k[i]) || !std::isfinite(c.v[i])) return Status::InvalidArgument("learn_profile: non-finite value");
  }
  KVF_RETURN_IF_ERROR(learn_basis(raw_chunks, options, &prof));
  // The tables describe the symbols of the coded (basis) planes.
  std::vector<std::vector<float>> coded_k(raw_chunks.size()), coded_v(raw_chunks.size());
  std::vector<KvChunkView> chunks;
  for (size_t ci = 0; ci < raw_chunks.size(); ++ci) {
    const KvChunkView& c = raw_chunks[ci];
    const size_t per_layer = static_cast<size_t>(c.shape.n_kv_heads) * c.shape.head_dim * c.n_tokens;
    coded_k[ci].resize(c.elements());
    coded_v[ci].resize(c.elements());
    const int32_t first = options.first_positions.empty() ? 0 : options.first_positions[ci];
    for (int l = 0; l < c.shape.n_layers; ++l) {
      to_basis(basis_of(prof, l, 0), c.n_tokens, first, c.k + per_layer * l, coded_k[ci].data() + per_layer * l);
      to_basis(basis_of(prof, l, 1), c.n_tokens, first, c.v + per_layer * l, coded_v[ci].data() + per_layer * l);
    }
    chunks.push_back({c.shape, c.n_tokens, coded_k[ci].data(), coded_v[ci].data()});
  }
  const int L = prof.shape.n_layers;
  const size_t nch = static_cast<size_t>(prof.shape.n_kv_heads) * prof.shape.head_dim;
  for (const auto& spec : kLevels) {
    Profile::LevelTables lt;
    lt.level = spec.id;
    int A = 1, nctx = 1;
    for (int l = 0; l < L; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const Plane p = cachegen_plane(spec, L, l, kv, true);
        A = std::max(A, p.A);
        nctx = std::max(nctx, p.nctx);
      }
    lt.alphabet = static_cast<uint16_t>(A);
    lt.n_ctx = static_cast<uint16_t>(nctx);
    const size_t rows = nch * nctx;
    std::vector<uint16_t> steps, offs;
    std::vector<int16_t> q;
    // Quantize every sample plane once; choose each channel's prediction by total cost.
    std::vector<std::vector<int16_t>> qs(chunks.size() * L * 2);
    lt.pred.assign(static_cast<size_t>(L) * 2 * nch, 0);
    lt.steps.assign(static_cast<size_t>(L) * 2, 0.0f);
    for (int l = 0; l < L; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const Plane p = cachegen_plane(spec, L, l, kv, true);
        // The plane's step: the geometric mean, over the sample chunks (by tokens), of
        // the step each would derive alone.
        double log_sum = 0, weight = 0;
        for (const auto& c : chunks) {
          const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
          const size_t per_layer = static_cast<size_t>(g.H) * g.T * g.D;
          float S = 0;
          quantize_plane(p, g, (kv ? c.v : c.k) + per_layer * l, &steps, &offs, &q, 0, &S);
          if (S > 0) {
            log_sum += std::log(static_cast<double>(S)) * static_cast<double>(c.n_tokens);
            weight += static_cast<double>(c.n_tokens);
          }
        }
        const float fixed_step = weight > 0 ? static_cast<float>(std::exp(log_sum / weight)) : 0.0f;
        lt.steps[static_cast<size_t>(l) * 2 + kv] = fixed_step;
        std::vector<uint32_t> h0(nch * p.A, 0), h1(nch * p.A, 0);
        for (size_t ci = 0; ci < chunks.size(); ++ci) {
          const auto& c = chunks[ci];
          const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
          const size_t per_layer = static_cast<size_t>(g.H) * g.T * g.D;
          auto& qq = qs[(ci * L + l) * 2 + kv];
          quantize_plane(p, g, (kv ? c.v : c.k) + per_layer * l, &steps, &offs, &qq, fixed_step);
          for (int h = 0; h < g.H; ++h)
            for (int d = 0; d < g.D; ++d)
              for (size_t t = 0; t < g.T; ++t) {
                const size_t i = (h * g.T + t) * g.D + d;
                const size_t ch = static_cast<size_t>(h) * g.D + d;
                ++h0[ch * p.A + qq[i] + p.soff];
                ++h1[ch * p.A + (t ? qq[i] - qq[i - g.D] : qq[i]) + p.soff];
              }
        }
        if (p.delta) continue;
        for (size_t ch = 0; ch < nch; ++ch) {
          double n = 0, b0 = 0, b1 = 0;
          for (int s = 0; s < p.A; ++s) n += h0[ch * p.A + s];
          for (int s = 0; s < p.A; ++s) {
            if (h0[ch * p.A + s]) b0 -= h0[ch * p.A + s] * std::log2(h0[ch * p.A + s] / n);
            if (h1[ch * p.A + s]) b1 -= h1[ch * p.A + s] * std::log2(h1[ch * p.A + s] / n);
          }
          lt.pred[(static_cast<size_t>(l) * 2 + kv) * nch + ch] = b1 < b0 ? 1 : 0;
        }
      }
    std::vector<uint32_t> counts(static_cast<size_t>(L) * 2 * rows * A, 0);
    for (size_t ci = 0; ci < chunks.size(); ++ci) {
      const auto& c = chunks[ci];
      const Geometry g{c.shape.n_kv_heads, c.shape.head_dim, c.n_tokens};
      for (int l = 0; l < L; ++l)
        for (int kv = 0; kv < 2; ++kv) {
          const Plane p = cachegen_plane(spec, L, l, kv, true);
          uint32_t* base = &counts[(static_cast<size_t>(l) * 2 + kv) * rows * A];
          for_symbols(p, g, qs[(ci * L + l) * 2 + kv], &lt.pred[(static_cast<size_t>(l) * 2 + kv) * nch],
                      [&](int ch, int ctx, int sym, int) { ++base[(static_cast<size_t>(ch) * nctx + ctx) * A + sym]; });
        }
    }
    lt.freq.assign(counts.size(), 0);
    for (int l = 0; l < L; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const Plane p = cachegen_plane(spec, L, l, kv, true);
        for (size_t r = 0; r < rows; ++r) {
          const size_t at = ((static_cast<size_t>(l) * 2 + kv) * rows + r) * A;
          int lo, hi;
          sym_range(p, lt.pred[(static_cast<size_t>(l) * 2 + kv) * nch + r / nctx] != 0, &lo, &hi);
          rans::normalize(&counts[at + lo], hi - lo + 1, true, &lt.freq[at + lo]);
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

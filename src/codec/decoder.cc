// The scalar reference decoder and the plane driver. Each lane group's decode tables
// are built just before the group runs (they stay in cache), and groups of different
// streams are handed to the AVX2 decoder together, so their latencies overlap.
#include "codec/decoder.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "kvforge/core/half.h"

namespace kvforge::codec::cachegen {

namespace f = format;
static_assert(std::endian::native == std::endian::little, "the rANS fast path reads u16 words with memcpy");

namespace {

std::atomic<bool> g_force_ref{false};

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

constexpr size_t kBlockTokens = 128;

// The lanes of one group in the reference decoder.
template <int NL>
struct RefLanes {
  uint32_t cur[NL], rowoff[NL], s[NL];
  int32_t pq[NL];
  const uint8_t* w;
};

// Pass 1 over tokens [ta, tb): the rANS lanes produce symbols. kFast: the stream
// holds a word for every symbol of the block, so no bounds checks.
template <int NL, bool kDelta, bool kCtx, bool kFast>
bool ref_symbols(const uint32_t* tab, const uint8_t* wend, size_t ta, size_t tb, RefLanes<NL>& L,
                 uint8_t (*sym)[NL]) {
  for (size_t t = ta; t < tb; ++t) {
    const uint32_t dctx = kDelta && (t % f::kDeltaGroup) != 0 ? kSlots : 0;
#pragma GCC unroll 8
    for (int i = 0; i < NL; ++i) {
      const uint32_t e = tab[(kDelta ? L.rowoff[i] + dctx : L.cur[i]) + (L.s[i] & (kSlots - 1))];
      sym[t - ta][i] = static_cast<uint8_t>(e & 0xff);
      if constexpr (kCtx) L.cur[i] = L.rowoff[i] + dec_ctxoff(e);
      L.s[i] = dec_freq(e) * (L.s[i] >> rans::kProbBits) + dec_bias(e);
      if constexpr (kFast) {
        const uint32_t need = L.s[i] < rans::kLow;
        uint16_t word;
        std::memcpy(&word, L.w, 2);  // little-endian host (static_assert above)
        L.s[i] = need ? (L.s[i] << 16) | word : L.s[i];
        L.w += 2 * need;
      } else if (L.s[i] < rans::kLow) {
        if (L.w + 2 > wend) return false;
        L.s[i] = (L.s[i] << 16) | f::get_u16(L.w);
        L.w += 2;
      }
    }
  }
  return true;
}

// Pass 2: symbols become values (prediction, range check, scale, basis block).
// Returns nonzero when a value left [-Q, Q].
template <int NL, bool kDelta, bool kPerToken>
uint32_t ref_values(const Plane& p, const Geometry& g, const float* tstep, const GroupDec& gd, size_t ta, size_t tb,
                    const uint8_t (*sym)[NL], int32_t* pq, float* x) {
  const int32_t soff = p.soff, Q = p.Q;
  const uint32_t span = static_cast<uint32_t>(2 * p.Q);
  uint32_t bad = 0;
  float* out = x + (static_cast<size_t>(gd.h) * g.T + ta) * g.D + gd.d0;
  for (size_t t = ta; t < tb; ++t, out += g.D) {
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
      // One product, then fused multiply-adds: decode_groups8_avx2's rounding, so the
      // two decoders agree to the bit on any CPU.
      for (int j = 0; j < NL; ++j) {
        float acc = v[0] * gd.mix[j];
        for (int i = 1; i < NL; ++i) acc = std::fma(v[i], gd.mix[i * kLanes + j], acc);
        out[j] = acc;
      }
    } else {
      std::copy(v, v + NL, out);
    }
  }
  return bad;
}

// The scalar reference decoder of one lane group (NL lanes), in blocks of tokens:
// pass 1 then pass 2. False on an invalid symbol or a short stream.
template <int NL, bool kDelta, bool kPerToken>
bool decode_group_ref(const Plane& p, const Geometry& g, const float* tstep, const GroupDec& gd, float* x) {
  constexpr bool kCtx = !kDelta && !kPerToken;
  RefLanes<NL> L;
  for (int i = 0; i < NL; ++i) {
    L.rowoff[i] = static_cast<uint32_t>(i) * gd.stride;
    L.cur[i] = L.rowoff[i] + (kCtx ? gd.ctx0[i] : 0);
    L.pq[i] = 0;
    L.s[i] = gd.st[i];
  }
  L.w = *gd.wp;
  uint32_t bad = 0;
  alignas(64) uint8_t sym[kBlockTokens][NL];
  for (size_t ta = 0; ta < g.T; ta += kBlockTokens) {
    const size_t tb = std::min(g.T, ta + kBlockTokens);
    if (static_cast<size_t>(gd.wend - L.w) >= 2 * NL * (tb - ta)) {
      ref_symbols<NL, kDelta, kCtx, true>(gd.tab, gd.wend, ta, tb, L, sym);
    } else if (!ref_symbols<NL, kDelta, kCtx, false>(gd.tab, gd.wend, ta, tb, L, sym)) {
      return false;
    }
    bad |= ref_values<NL, kDelta, kPerToken>(p, g, tstep, gd, ta, tb, sym, L.pq, x);
  }
  *gd.wp = L.w;
  for (int i = 0; i < NL; ++i) gd.st[i] = L.s[i];
  return bad == 0;
}

template <bool kDelta, bool kPerToken>
bool decode_one_ref(const Plane& p, const Geometry& g, const float* tstep, const GroupDec& gd, float* x) {
  switch (gd.nl) {
    case 8: return decode_group_ref<8, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 7: return decode_group_ref<7, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 6: return decode_group_ref<6, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 5: return decode_group_ref<5, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 4: return decode_group_ref<4, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 3: return decode_group_ref<3, kDelta, kPerToken>(p, g, tstep, gd, x);
    case 2: return decode_group_ref<2, kDelta, kPerToken>(p, g, tstep, gd, x);
    default: return decode_group_ref<1, kDelta, kPerToken>(p, g, tstep, gd, x);
  }
}

bool decode_one(const Plane& p, const Geometry& g, Mode mode, const float* tstep, const GroupDec& gd, float* x) {
  if (gd.nl == kLanes && avx2_decoder_enabled()) return decode_groups8_avx2(p, g, mode, tstep, &gd, 1, x);
  switch (mode) {
    case Mode::kPerToken: return decode_one_ref<false, true>(p, g, tstep, gd, x);
    case Mode::kDelta: return decode_one_ref<true, false>(p, g, tstep, gd, x);
    default: return decode_one_ref<false, false>(p, g, tstep, gd, x);
  }
}

// Decodes n groups from n different streams together where all are full and AVX2 is
// on; else one after the other (the streams are independent).
bool decode_batch(const Plane& p, const Geometry& g, Mode mode, const float* tstep, const GroupDec* gds, int n,
                  float* x) {
  bool full = n > 1 && avx2_decoder_enabled();
  for (int k = 0; k < n; ++k) full &= gds[k].nl == kLanes;
  if (full) return decode_groups8_avx2(p, g, mode, tstep, gds, n, x);
  for (int k = 0; k < n; ++k)
    if (!decode_one(p, g, mode, tstep, gds[k], x)) return false;
  return true;
}

// The plane's streams: each u32 length, eight u32 states, 16-bit words.
struct Streams {
  int n = 0;
  uint32_t st[f::kMaxStreams][kLanes];
  const uint8_t* wp[f::kMaxStreams];
  const uint8_t* wend[f::kMaxStreams];
};

Status read_streams(const Geometry& g, ByteReader* in, Streams* s) {
  s->n = n_streams(g);
  for (int k = 0; k < s->n; ++k) {
    const uint8_t* lp;
    if (!in->take(4, &lp)) return Status::Corruption("truncated stream length");
    const uint32_t len = f::get_u32(lp);
    const uint8_t* sb;
    if (len < 4 * kLanes || (len & 1) || !in->take(len, &sb)) return Status::Corruption("bad stream length");
    for (int i = 0; i < kLanes; ++i) {
      s->st[k][i] = f::get_u32(sb + 4 * i);
      if (s->st[k][i] < rans::kLow) return Status::Corruption("bad rANS state");
    }
    s->wp[k] = sb + 4 * kLanes;
    s->wend[k] = sb + len;
  }
  return Status::OK();
}

// After the plane every stream must be consumed exactly, its states back at 2^16.
Status check_streams_end(const Streams& s) {
  for (int k = 0; k < s.n; ++k) {
    if (s.wp[k] != s.wend[k]) return Status::Corruption("symbol stream has trailing bytes");
    for (int i = 0; i < kLanes; ++i)
      if (s.st[k][i] != rans::kLow) return Status::Corruption("symbol stream final state mismatch");
  }
  return Status::OK();
}

// Fills a lane group's per-lane parameters and builds its decode tables.
void setup_group(const Plane& p, const Geometry& g, const PlaneTables& tables, const std::vector<float>& steps,
                 const std::vector<float>& offs, const CtxLut* lut, int h, int d0, int nl, GroupDec* gd) {
  uint32_t* tab = const_cast<uint32_t*>(gd->tab);
  for (int i = 0; i < kLanes; ++i) {
    const size_t ch = static_cast<size_t>(h) * g.D + d0 + std::min(i, nl - 1);
    const bool pr = tables.pred != nullptr && tables.pred[ch] != 0;
    gd->pm[i] = pr ? -1 : 0;
    gd->step[i] = p.per_token ? 0.0f : steps[ch];
    gd->off[i] = offs.empty() ? 0.0f : offs[ch];
    gd->ctx0[i] = static_cast<uint32_t>(lut[pr][p.soff]) * kSlots;
    if (i < nl)
      for (int x = 0; x < p.nctx; ++x)
        build_dec_row(tables.freq + (ch * tables.n_ctx + x) * tables.alphabet, p.A, lut[pr].data(),
                      tab + i * gd->stride + x * kSlots);
  }
}

}  // namespace

void force_ref_decoder(bool on) { g_force_ref.store(on); }

bool avx2_decoder_enabled() { return !g_force_ref.load(std::memory_order_relaxed) && avx2_decoder_supported(); }

Status read_steps(const Plane& p, const Geometry& g, ByteReader* in, std::vector<float>* steps,
                  std::vector<float>* offs) {
  const size_t nch = static_cast<size_t>(g.nch()), n_steps = p.per_token ? g.T : nch;
  const uint8_t* sp;
  if (!in->take(2 * n_steps, &sp)) return Status::Corruption("truncated steps");
  steps->resize(n_steps);
  for (size_t i = 0; i < n_steps; ++i) {
    const float s = core::fp16_to_f32(f::get_u16(sp + 2 * i));
    if (!std::isfinite(s) || s < 0) {
      return Status::Corruption("invalid step #" + std::to_string(i) + ": " + std::to_string(s));
    }
    (*steps)[i] = p.per_token ? s / static_cast<float>(p.Q) : s;
  }
  offs->clear();
  if (!p.offset) return Status::OK();
  if (!in->take(2 * nch, &sp)) return Status::Corruption("truncated offsets");
  offs->resize(nch);
  for (size_t i = 0; i < nch; ++i) {
    (*offs)[i] = core::fp16_to_f32(f::get_u16(sp + 2 * i));
    if (!std::isfinite((*offs)[i])) {
      return Status::Corruption("invalid offset #" + std::to_string(i) + ": " + std::to_string((*offs)[i]));
    }
  }
  return Status::OK();
}

Status decode_symbols(const Plane& p, const Geometry& g, const PlaneTables& tables, const std::vector<float>& steps,
                      const std::vector<float>& offs, const float* mixes, ByteReader* in, DecodeScratch* scratch,
                      float* x) {
  const CtxLut lut[2] = {ctx_lut(p, false), ctx_lut(p, true)};
  Streams s;
  KVF_RETURN_IF_ERROR(read_streams(g, in, &s));
  // Lane groups in batches of s.n (group j uses stream j mod n).
  const uint32_t stride = static_cast<uint32_t>(p.nctx) * kSlots;
  const size_t ntab = static_cast<size_t>(s.n) * kLanes * stride + 16;  // + slack for build_dec_row
  if (ntab > scratch->tabs_n) {
    scratch->tabs.reset(new uint32_t[ntab]);  // uninitialised: every row read is built first
    scratch->tabs_n = ntab;
  }
  const Mode mode = p.per_token ? Mode::kPerToken : p.delta ? Mode::kDelta : Mode::kChannel;
  GroupDec gds[f::kMaxStreams];
  int nb = 0, j = 0;
  bool ok = true;
  for_groups(g, [&](int h, int d0, int nl, size_t, size_t) {
    GroupDec& gd = gds[nb];
    const int sid = j++ % s.n;
    gd.mix = mixes != nullptr ? mixes + (static_cast<size_t>(h) * g.D + d0) * kLanes : nullptr;
    gd.tab = scratch->tabs.get() + static_cast<size_t>(nb) * kLanes * stride;
    gd.stride = stride;
    gd.h = h;
    gd.d0 = d0;
    gd.nl = nl;
    gd.st = s.st[sid];
    gd.wp = &s.wp[sid];
    gd.wend = s.wend[sid];
    setup_group(p, g, tables, steps, offs, lut, h, d0, nl, &gd);
    if (++nb < s.n) return;
    ok = ok && decode_batch(p, g, mode, steps.data(), gds, nb, x);
    nb = 0;
  });
  if (nb > 0) ok = ok && decode_batch(p, g, mode, steps.data(), gds, nb, x);
  if (!ok) return Status::Corruption("symbol stream does not decode");
  return check_streams_end(s);
}

}  // namespace kvforge::codec::cachegen

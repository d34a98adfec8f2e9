// The AVX2 lane-group decoder: NG full 8-lane groups of NG independent streams,
// interleaved step by step so that their dependency chains (gather, multiply,
// renormalise) overlap. It must give decode_group_ref's bits (decoder_ref_test.cc).
//
// Why hand-written AVX2 and not Highway dynamic dispatch (src/core/kernels_*_simd.cc):
// the format fixes eight interleaved rANS states per stream (FORMAT.md), so the
// kernel needs a vector of exactly 8 x u32 and an 8-lane gather. Under Highway 1.0.3
// foreach_target compiles the same source for SSE4 and SSSE3 too, where
// hn::FixedTag<uint32_t, 8> fails its static_assert(kNumLanes <= HWY_LANES(T))
// ("Too many lanes": 128-bit targets have 4 u32 lanes), and those targets have no
// gather instruction (hn::GatherIndex is emulated lane by lane there, no faster than
// decode_group_ref). AVX3 targets would run the same 8 lanes in a half vector. So
// the only target that gains is AVX2; it is compiled with
// __attribute__((target("avx2,fma,popcnt"))) and chosen at run time by
// __builtin_cpu_supports (avx2_decoder_supported), with no -march flag, and every
// other CPU runs decode_group_ref.
#include <algorithm>
#include <cstdlib>

#include "codec/decoder.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KVF_CG_AVX2 1
#endif

namespace kvforge::codec::cachegen {

namespace f = format;

#ifdef KVF_CG_AVX2
namespace {

#define KVF_AVX2 __attribute__((target("avx2,fma,popcnt"), always_inline)) inline

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

constexpr int NL = 8;
constexpr size_t kBlockTokens = 128;

// The NG groups' lanes: table rows, current context rows, states, previous q,
// prediction masks, steps, offsets and word pointers.
template <int NG>
struct Lanes {
  __m256i rowv[NG], cur[NG], s[NG], pqv[NG], pmv[NG];
  __m256 stepv[NG], offv[NG];
  const uint8_t* w[NG];
  const int* base[NG];
};

template <int NG, bool kCtx>
KVF_AVX2 void load_lanes(const GroupDec* gds, Lanes<NG>& L) {
  for (int k = 0; k < NG; ++k) {
    const GroupDec& gd = gds[k];
    const int st = static_cast<int>(gd.stride);
    L.rowv[k] = _mm256_setr_epi32(0, st, 2 * st, 3 * st, 4 * st, 5 * st, 6 * st, 7 * st);
    L.cur[k] = kCtx ? _mm256_add_epi32(L.rowv[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gd.ctx0)))
                    : L.rowv[k];
    L.s[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gd.st));
    L.pqv[k] = _mm256_setzero_si256();
    L.pmv[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gd.pm));
    L.stepv[k] = _mm256_loadu_ps(gd.step);
    L.offv[k] = _mm256_loadu_ps(gd.off);
    L.w[k] = *gd.wp;
    L.base[k] = reinterpret_cast<const int*>(gd.tab);
  }
}

// Pass 1 over tokens [ta, tb), every stream holding a word for every symbol.
template <int NG, bool kDelta, bool kCtx>
KVF_AVX2 void symbols_fast(const Geometry& g, const GroupDec* gds, size_t ta, size_t tb, float* x, Lanes<NG>& L,
                           int32_t (*sym)[kBlockTokens][NL]) {
  const __m256i kMaskV = _mm256_set1_epi32(static_cast<int>(kSlots - 1));
  const __m256i k0xff = _mm256_set1_epi32(0xff), k0x1800 = _mm256_set1_epi32(static_cast<int>(3 * kSlots));
  const __m256i one = _mm256_set1_epi32(1);
  for (size_t t = ta; t < tb; ++t) {
    __m256i dctx = _mm256_setzero_si256();
    if constexpr (kDelta) dctx = _mm256_set1_epi32((t % f::kDeltaGroup) != 0 ? static_cast<int>(kSlots) : 0);
#pragma GCC unroll 4
    for (int k = 0; k < NG; ++k) {
      // Output lines of the next block: fetched for writing while this one decodes.
      if (t + kBlockTokens < g.T)
        __builtin_prefetch(x + (static_cast<size_t>(gds[k].h) * g.T + t + kBlockTokens) * g.D + gds[k].d0, 1, 3);
      const __m256i c = kDelta ? _mm256_add_epi32(L.rowv[k], dctx) : L.cur[k];
      const __m256i idx = _mm256_add_epi32(c, _mm256_and_si256(L.s[k], kMaskV));
      const __m256i e = _mm256_i32gather_epi32(L.base[k], idx, 4);
      _mm256_store_si256(reinterpret_cast<__m256i*>(sym[k][t - ta]), _mm256_and_si256(e, k0xff));
      const __m256i eb = _mm256_srli_epi32(e, kBiasShift);
      if constexpr (kCtx) L.cur[k] = _mm256_add_epi32(L.rowv[k], _mm256_and_si256(eb, k0x1800));
      const __m256i fr = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(e, 8), kMaskV), one);
      __m256i sk = _mm256_add_epi32(_mm256_mullo_epi32(fr, _mm256_srli_epi32(L.s[k], rans::kProbBits)),
                                    _mm256_and_si256(eb, kMaskV));
      const __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(sk, 16), _mm256_setzero_si256());
      const int m = _mm256_movemask_ps(_mm256_castsi256_ps(need));
      const __m256i words = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(L.w[k])));
      const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kRenormLut.perm[m]));
      const __m256i wl = _mm256_permutevar8x32_epi32(words, perm);
      L.s[k] = _mm256_blendv_epi8(sk, _mm256_or_si256(_mm256_slli_epi32(sk, 16), wl), need);
      L.w[k] += 2 * _mm_popcnt_u32(static_cast<unsigned>(m));
    }
  }
}

// Pass 1 near a stream's end: scalar, every word checked. False on a short stream.
template <int NG, bool kDelta, bool kCtx>
KVF_AVX2 bool symbols_checked(const GroupDec* gds, size_t ta, size_t tb, Lanes<NG>& L,
                              int32_t (*sym)[kBlockTokens][NL]) {
  for (int k = 0; k < NG; ++k) {
    alignas(32) uint32_t sa[NL], ca[NL], ro[NL];
    _mm256_store_si256(reinterpret_cast<__m256i*>(sa), L.s[k]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(ca), L.cur[k]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(ro), L.rowv[k]);
    const uint32_t* tab = gds[k].tab;
    for (size_t t = ta; t < tb; ++t) {
      const uint32_t dctx = kDelta && (t % f::kDeltaGroup) != 0 ? kSlots : 0;
      for (int i = 0; i < NL; ++i) {
        const uint32_t e = tab[(kDelta ? ro[i] + dctx : ca[i]) + (sa[i] & (kSlots - 1))];
        sym[k][t - ta][i] = static_cast<int32_t>(e & 0xff);
        if constexpr (kCtx) ca[i] = ro[i] + dec_ctxoff(e);
        sa[i] = dec_freq(e) * (sa[i] >> rans::kProbBits) + dec_bias(e);
        if (sa[i] < rans::kLow) {
          if (L.w[k] + 2 > gds[k].wend) return false;
          sa[i] = (sa[i] << 16) | f::get_u16(L.w[k]);
          L.w[k] += 2;
        }
      }
    }
    L.s[k] = _mm256_load_si256(reinterpret_cast<const __m256i*>(sa));
    L.cur[k] = _mm256_load_si256(reinterpret_cast<const __m256i*>(ca));
  }
  return true;
}

// y_row * mix (8 x 8, row-major): a profile block of 8 channels.
KVF_AVX2 __m256 apply_mix(__m256 y, const float* m) {
  __m256 acc = _mm256_mul_ps(_mm256_permutevar8x32_ps(y, _mm256_set1_epi32(0)), _mm256_loadu_ps(m));
  for (int i = 1; i < kLanes; ++i)
    acc = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(y, _mm256_set1_epi32(i)), _mm256_loadu_ps(m + i * kLanes), acc);
  return acc;
}

// Pass 2: values, token by token across the groups (their stores share cache lines).
// Returns the lanes whose value left [-Q, Q] (nonzero: corrupt).
template <int NG, bool kDelta, bool kPerToken>
KVF_AVX2 __m256i values(const Plane& p, const Geometry& g, const float* tstep, const GroupDec* gds, size_t ta,
                        size_t tb, Lanes<NG>& L, const int32_t (*sym)[kBlockTokens][NL], float* x) {
  const __m256i soffv = _mm256_set1_epi32(p.soff), qv0 = _mm256_set1_epi32(p.Q), spanv = _mm256_set1_epi32(2 * p.Q);
  __m256i badv = _mm256_setzero_si256();
  float* outk[NG];
  for (int k = 0; k < NG; ++k) outk[k] = x + (static_cast<size_t>(gds[k].h) * g.T + ta) * g.D + gds[k].d0;
  for (size_t t = ta; t < tb; ++t) {
#pragma GCC unroll 4
    for (int k = 0; k < NG; ++k) {
      __m256i q = _mm256_sub_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(sym[k][t - ta])), soffv);
      __m256 y;
      if constexpr (kDelta) {
        if (t % f::kDeltaGroup == 0) {
          L.pqv[k] = q;
        } else {
          q = _mm256_add_epi32(q, L.pqv[k]);
        }
        y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), L.stepv[k]), L.offv[k]);
      } else if constexpr (kPerToken) {
        y = _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(tstep[t]));
      } else {
        q = _mm256_add_epi32(q, _mm256_and_si256(L.pqv[k], L.pmv[k]));
        L.pqv[k] = q;
        y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), L.stepv[k]), L.offv[k]);
      }
      const __m256i qq = _mm256_add_epi32(q, qv0);
      badv = _mm256_or_si256(badv, _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), qq),
                                                   _mm256_cmpgt_epi32(qq, spanv)));
      if (gds[k].mix != nullptr) y = apply_mix(y, gds[k].mix);
      _mm256_storeu_ps(outk[k], y);
      outk[k] += g.D;
    }
  }
  return badv;
}

template <int NG, bool kDelta, bool kPerToken>
__attribute__((target("avx2,fma,popcnt"))) bool decode_groups(const Plane& p, const Geometry& g, const float* tstep,
                                                               const GroupDec* gds, float* x) {
  constexpr bool kCtx = !kDelta && !kPerToken;
  Lanes<NG> L;
  load_lanes<NG, kCtx>(gds, L);
  __m256i badv = _mm256_setzero_si256();
  alignas(64) int32_t sym[NG][kBlockTokens][NL];
  for (size_t ta = 0; ta < g.T; ta += kBlockTokens) {
    const size_t tb = std::min(g.T, ta + kBlockTokens);
    bool fast = true;
    for (int k = 0; k < NG; ++k) fast &= static_cast<size_t>(gds[k].wend - L.w[k]) >= 2 * NL * (tb - ta);
    if (fast) {
      symbols_fast<NG, kDelta, kCtx>(g, gds, ta, tb, x, L, sym);
    } else if (!symbols_checked<NG, kDelta, kCtx>(gds, ta, tb, L, sym)) {
      return false;
    }
    badv = _mm256_or_si256(badv, values<NG, kDelta, kPerToken>(p, g, tstep, gds, ta, tb, L, sym, x));
  }
  for (int k = 0; k < NG; ++k) {
    *gds[k].wp = L.w[k];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(gds[k].st), L.s[k]);
  }
  return _mm256_testz_si256(badv, badv) != 0;
}

template <int NG>
bool decode_mode(const Plane& p, const Geometry& g, Mode mode, const float* tstep, const GroupDec* gds, float* x) {
  switch (mode) {
    case Mode::kPerToken: return decode_groups<NG, false, true>(p, g, tstep, gds, x);
    case Mode::kDelta: return decode_groups<NG, true, false>(p, g, tstep, gds, x);
    default: return decode_groups<NG, false, false>(p, g, tstep, gds, x);
  }
}

}  // namespace

bool avx2_decoder_supported() {
  static const bool v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                        __builtin_cpu_supports("popcnt") && std::getenv("KVF_CODEC_NO_SIMD") == nullptr;
  return v;
}

bool decode_groups8_avx2(const Plane& p, const Geometry& g, Mode mode, const float* tstep, const GroupDec* gds,
                         int ng, float* x) {
  switch (ng) {
    case 1: return decode_mode<1>(p, g, mode, tstep, gds, x);
    case 2: return decode_mode<2>(p, g, mode, tstep, gds, x);
    case 3: return decode_mode<3>(p, g, mode, tstep, gds, x);
    default: return decode_mode<4>(p, g, mode, tstep, gds, x);
  }
}

#else  // no x86: every plane runs decode_group_ref

bool avx2_decoder_supported() { return false; }

bool decode_groups8_avx2(const Plane&, const Geometry&, Mode, const float*, const GroupDec*, int, float*) {
  return false;
}

#endif

}  // namespace kvforge::codec::cachegen

// Integer dot products of quantized weight rows with int8 activations
// (quantized_activations.h), compiled per SIMD target (foreach_target) and
// dispatched at run time. x86 AVX2 and up (AVX-512, AVX-512 VNNI) run the
// intrinsics of kernels_q8dot_x86-inl.h; older x86 targets multiply int8 by
// int8 with pmaddubsw (Q8Block / Q4Block), and every other target widens codes
// to int16 and multiplies pairwise into int32 (ReorderWidenMulAccumulate). A
// block costs a few integer ops and one float FMA, where the fp32 path paid a
// convert and an FMA per element: decode on Q8_0 went from 0.79x to ~1.0x
// llama.cpp's speed (docs/PERFORMANCE.md). The rarer types (Q4_1, Q5_0, Q5_1,
// IQ4_NL, Q2_K, Q3_K, Q5_K) have x86 kernels too (kernels_q8dot_x86_more-inl.h);
// below AVX2 they unpack each block to codes (kernels_q8dot_unpacked-inl.h).
//
// The generic vectors are capped at 16 int16 lanes: a Q4_0 block's 16 nibble
// bytes, and a K-quant sub-block's 16 or 32 elements under one scale, then fill
// whole vectors.
#include <algorithm>
#include <cstring>
#include <functional>

#include "core/kernels_int_blocks.h"
#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/quantized_activations.h"
#include "kvforge/core/status.h"
#include "kvforge/core/thread_pool.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels_q8dot_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "core/half_scale-inl.h"

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D16 = hn::CappedTag<int16_t, 16>;
using D32 = hn::RepartitionToWide<D16>;
using DF = hn::Rebind<float, D32>;
using V16 = hn::Vec<D16>;
using V32 = hn::Vec<D32>;

HWY_INLINE V16 LoadI8(const int8_t* p) { return hn::PromoteTo(D16(), hn::LoadU(hn::Rebind<int8_t, D16>(), p)); }
HWY_INLINE V16 LoadU8(const uint8_t* p) { return hn::PromoteTo(D16(), hn::LoadU(hn::Rebind<uint8_t, D16>(), p)); }

// s0 (+ s1, which some targets use) += pairwise products of a and b.
HWY_INLINE void MulAcc(V16 a, V16 b, V32& s0, V32& s1) { s0 = hn::ReorderWidenMulAccumulate(D32(), a, b, s0, s1); }

// Before the x86 file: its pragma (AVX3_DL) keeps later code from inlining Highway ops.
#include "core/kernels_q8dot_unpacked-inl.h"

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#include "core/kernels_q8dot_x86-inl.h"
#else
// Targets below AVX2: one 32-element block is an int32 vector whose lanes sum
// to sum_j w[j] * x[j] (pmaddubsw on SSSE3/SSE4, pairwise int16 elsewhere).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_SSSE3
HWY_INLINE __m128i MulSumI8(__m128i w, __m128i x) {
  const __m128i p16 = _mm_maddubs_epi16(_mm_sign_epi8(w, w), _mm_sign_epi8(x, w));
  return _mm_madd_epi16(p16, _mm_set1_epi16(1));
}
HWY_INLINE __m128i LoadX(const int8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
HWY_INLINE V32 Q8Block(const int8_t* w, const int8_t* x) {
  return V32{_mm_add_epi32(MulSumI8(LoadX(w), LoadX(x)), MulSumI8(LoadX(w + 16), LoadX(x + 16)))};
}
HWY_INLINE V32 Q4Block(const uint8_t* qs, const int8_t* x) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m15 = _mm_set1_epi8(0xF), k8 = _mm_set1_epi8(8);
  const __m128i lo = _mm_sub_epi8(_mm_and_si128(b, m15), k8);
  const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(b, 4), m15), k8);
  return V32{_mm_add_epi32(MulSumI8(lo, LoadX(x)), MulSumI8(hi, LoadX(x + 16)))};
}
#else
HWY_INLINE V32 Q8Block(const int8_t* w, const int8_t* x) {
  const D32 d32;
  const size_t N = hn::Lanes(D16());
  V32 s0 = hn::Zero(d32), s1 = hn::Zero(d32);
  for (size_t j = 0; j < 32; j += N) MulAcc(LoadI8(w + j), LoadI8(x + j), s0, s1);
  return hn::Add(s0, s1);
}
HWY_INLINE V32 Q4Block(const uint8_t* qs, const int8_t* x) {
  const D16 d16;
  const D32 d32;
  const size_t N = hn::Lanes(d16);
  const auto k15 = hn::Set(d16, 15), k8 = hn::Set(d16, 8);
  V32 s0 = hn::Zero(d32), s1 = hn::Zero(d32);
  for (size_t j = 0; j < 16; j += N) {
    const V16 v = LoadU8(qs + j);
    MulAcc(hn::Sub(hn::And(v, k15), k8), LoadI8(x + j), s0, s1);
    MulAcc(hn::Sub(hn::ShiftRight<4>(v), k8), LoadI8(x + 16 + j), s0, s1);
  }
  return hn::Add(s0, s1);
}
#endif

float DotQ8_0Q8(const uint8_t* w, const QuantizedRow& xr, size_t nb) {
  const auto* x = static_cast<const BlockQ8_0x*>(xr.blocks);
  const DF df;
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ8_0)) {
    const V32 isum = Q8Block(reinterpret_cast<const int8_t*>(w + 2), x[b].qs);
    const auto scale = hn::Set(df, LoadHalf(w) * LoadHalf(reinterpret_cast<const uint8_t*>(&x[b].d)));
    // Alternate accumulators: consecutive blocks' FMAs do not wait on each other.
    if (b & 1) {
      acc1 = hn::MulAdd(scale, hn::ConvertTo(df, isum), acc1);
    } else {
      acc0 = hn::MulAdd(scale, hn::ConvertTo(df, isum), acc0);
    }
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
}

float DotQ4_0Q8(const uint8_t* w, const QuantizedRow& xr, size_t nb) {
  const auto* x = static_cast<const BlockQ8_0x*>(xr.blocks);
  const DF df;
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ4_0)) {
    const V32 isum = Q4Block(w + 2, x[b].qs);
    const auto scale = hn::Set(df, LoadHalf(w) * LoadHalf(reinterpret_cast<const uint8_t*>(&x[b].d)));
    if (b & 1) {
      acc1 = hn::MulAdd(scale, hn::ConvertTo(df, isum), acc1);
    } else {
      acc0 = hn::MulAdd(scale, hn::ConvertTo(df, isum), acc0);
    }
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
}

// Nibbles times their 6-bit sub-block scale fit int16 (<= 945), so the scale is
// applied before the pairwise multiply and a super-block sums in one int32 vector.
float DotQ4_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  const D16 d16;
  const D32 d32;
  const DF df;
  const size_t N = hn::Lanes(d16);
  const auto k15 = hn::Set(d16, 15);
  auto acc = hn::Zero(df);
  float mins = 0.0f;
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ4_K)) {
    const uint8_t* q = w + 16;
    const int8_t* q8 = x[b].qs;
    const int16_t* bs = x[b].bsums;
    V32 s0 = hn::Zero(d32), s1 = hn::Zero(d32);
    int imin = 0;
    for (int j = 0; j < 8; j += 2, q += 32, q8 += 64) {
      uint8_t sc1, m1, sc2, m2;
      ref::q4_k_scale_min(j, w + 4, &sc1, &m1);
      ref::q4_k_scale_min(j + 1, w + 4, &sc2, &m2);
      const auto v1 = hn::Set(d16, static_cast<int16_t>(sc1)), v2 = hn::Set(d16, static_cast<int16_t>(sc2));
      for (size_t l = 0; l < 32; l += N) {
        const V16 v = LoadU8(q + l);
        MulAcc(hn::Mul(hn::And(v, k15), v1), LoadI8(q8 + l), s0, s1);
        MulAcc(hn::Mul(hn::ShiftRight<4>(v), v2), LoadI8(q8 + 32 + l), s0, s1);
      }
      imin += m1 * (bs[2 * j] + bs[2 * j + 1]) + m2 * (bs[2 * j + 2] + bs[2 * j + 3]);
    }
    acc = hn::MulAdd(hn::Set(df, LoadHalf(w) * x[b].d), hn::ConvertTo(df, hn::Add(s0, s1)), acc);
    mins += LoadHalf(w + 2) * x[b].d * static_cast<float>(imin);
  }
  return hn::GetLane(hn::SumOfLanes(df, acc)) - mins;
}

// (q - 32) * scale fits int16 (|.| <= 4096); a super-block sums in int32.
float DotQ6_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  const D16 d16;
  const D32 d32;
  const DF df;
  const size_t N = hn::Lanes(d16);
  const auto k15 = hn::Set(d16, 15), k3 = hn::Set(d16, 3), k32 = hn::Set(d16, 32);
  auto acc = hn::Zero(df);
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ6_K)) {
    V32 s0 = hn::Zero(d32), s1 = hn::Zero(d32);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w + 64 * half;
      const uint8_t* qh = w + 128 + 32 * half;
      const auto* sc = reinterpret_cast<const int8_t*>(w + 192 + 8 * half);
      const int8_t* q8 = x[b].qs + 128 * half;
      for (size_t l = 0; l < 32; l += N) {
        const V16 lo = LoadU8(ql + l), lo32 = LoadU8(ql + 32 + l), hi = LoadU8(qh + l);
        const size_t is = l / 16;
        const V16 q1 = hn::Or(hn::And(lo, k15), hn::ShiftLeft<4>(hn::And(hi, k3)));
        const V16 q2 = hn::Or(hn::And(lo32, k15), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(hi), k3)));
        const V16 q3 = hn::Or(hn::ShiftRight<4>(lo), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(hi), k3)));
        const V16 q4 = hn::Or(hn::ShiftRight<4>(lo32), hn::ShiftLeft<4>(hn::ShiftRight<6>(hi)));
        MulAcc(hn::Mul(hn::Sub(q1, k32), hn::Set(d16, sc[is])), LoadI8(q8 + l), s0, s1);
        MulAcc(hn::Mul(hn::Sub(q2, k32), hn::Set(d16, sc[is + 2])), LoadI8(q8 + 32 + l), s0, s1);
        MulAcc(hn::Mul(hn::Sub(q3, k32), hn::Set(d16, sc[is + 4])), LoadI8(q8 + 64 + l), s0, s1);
        MulAcc(hn::Mul(hn::Sub(q4, k32), hn::Set(d16, sc[is + 6])), LoadI8(q8 + 96 + l), s0, s1);
      }
    }
    acc = hn::MulAdd(hn::Set(df, LoadHalf(w + 208) * x[b].d), hn::ConvertTo(df, hn::Add(s0, s1)), acc);
  }
  return hn::GetLane(hn::SumOfLanes(df, acc));
}

// Below AVX2 the rarer types unpack each block to codes first.
float DotQ4_1Q8(const uint8_t* w, const QuantizedRow& x, size_t nb) { return DotUnpacked32Q8(TensorType::kQ4_1, w, x, nb); }
float DotQ5_0Q8(const uint8_t* w, const QuantizedRow& x, size_t nb) { return DotUnpacked32Q8(TensorType::kQ5_0, w, x, nb); }
float DotQ5_1Q8(const uint8_t* w, const QuantizedRow& x, size_t nb) { return DotUnpacked32Q8(TensorType::kQ5_1, w, x, nb); }
float DotIQ4_NLQ8(const uint8_t* w, const QuantizedRow& x, size_t nb) {
  return DotUnpacked32Q8(TensorType::kIQ4_NL, w, x, nb);
}
float DotQ2_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) { return DotUnpacked256Q8(TensorType::kQ2_K, w, x, nb); }
float DotQ3_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) { return DotUnpacked256Q8(TensorType::kQ3_K, w, x, nb); }
float DotQ5_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) { return DotUnpacked256Q8(TensorType::kQ5_K, w, x, nb); }

// Below AVX2 every row goes a token at a time.
size_t DotRowTokensQ8(TensorType, const uint8_t*, const QuantizedActivations&, size_t, float*, size_t) { return 0; }

#endif  // x86 AVX2 and up

HWY_INLINE float DotRowQ8T(TensorType type, const uint8_t* w, const QuantizedRow& x, size_t n) {
  switch (type) {
    case TensorType::kQ8_0: return DotQ8_0Q8(w, x, n / 32);
    case TensorType::kQ4_0: return DotQ4_0Q8(w, x, n / 32);
    case TensorType::kQ4_K: return DotQ4_KQ8(w, static_cast<const BlockQ8_K*>(x.blocks), n / 256);
    case TensorType::kQ6_K: return DotQ6_KQ8(w, static_cast<const BlockQ8_K*>(x.blocks), n / 256);
    case TensorType::kQ4_1: return DotQ4_1Q8(w, x, n / 32);
    case TensorType::kQ5_0: return DotQ5_0Q8(w, x, n / 32);
    case TensorType::kQ5_1: return DotQ5_1Q8(w, x, n / 32);
    case TensorType::kIQ4_NL: return DotIQ4_NLQ8(w, x, n / 32);
    case TensorType::kQ2_K: return DotQ2_KQ8(w, static_cast<const BlockQ8_K*>(x.blocks), n / 256);
    case TensorType::kQ3_K: return DotQ3_KQ8(w, static_cast<const BlockQ8_K*>(x.blocks), n / 256);
    case TensorType::kQ5_K: return DotQ5_KQ8(w, static_cast<const BlockQ8_K*>(x.blocks), n / 256);
    default: return 0.0f;
  }
}

float DotRowQ8(TensorType type, const uint8_t* w, const QuantizedRow& x, size_t n) { return DotRowQ8T(type, w, x, n); }

// Rows [r0, r1) against every token: a row is read from memory once and stays
// in L1 while the tokens' activations (a few KiB each) stream from L2.
void MatmulQ8Range(TensorType type, const uint8_t* w, size_t row_bytes, size_t rows, size_t cols,
                   const QuantizedActivations* x, float* y, size_t r0, size_t r1) {
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + r * row_bytes;
    const size_t done = DotRowTokensQ8(type, row, *x, cols, y + r, rows);
    for (size_t t = done; t < x->n_rows; ++t) y[t * rows + r] = DotRowQ8T(type, row, x->row(t), cols);
  }
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace kvforge::core {
HWY_EXPORT(DotRowQ8);
HWY_EXPORT(MatmulQ8Range);

namespace {
// As kernels.cc's run_rows: below this much work a job's wake-up and join cost
// more than they save; 16-row grains keep threads off shared output lines.
constexpr size_t kMinParallelBytes = 64 * 1024;
constexpr size_t kRowGrain = 16;
}  // namespace

float dot_row_q8(TensorType weight_type, const void* row, const QuantizedRow& x, size_t n) {
  KVF_CHECK(has_q8_dot(weight_type) && x.type == activation_type_for(weight_type) && n == x.n);
  return HWY_DYNAMIC_DISPATCH(DotRowQ8)(weight_type, static_cast<const uint8_t*>(row), x, n);
}

void matmul_q8(TensorType type, const void* w, size_t rows, size_t cols, const QuantizedActivations& x, float* y,
               ThreadPool* pool) {
  KVF_CHECK(has_q8_dot(type) && x.type == activation_type_for(type) && cols == x.n);
  const size_t rb = cols / static_cast<size_t>(tensor_type_block_elems(type)) *
                    static_cast<size_t>(tensor_type_block_bytes(type));
  // One captured pointer keeps the std::function in its small buffer (no allocation).
  struct Job {
    std::decay_t<decltype(HWY_DYNAMIC_DISPATCH(MatmulQ8Range))> kernel;
    TensorType type;
    const uint8_t* w;
    size_t rb, rows, cols;
    const QuantizedActivations* x;
    float* y;
  } job{HWY_DYNAMIC_DISPATCH(MatmulQ8Range), type, static_cast<const uint8_t*>(w), rb, rows, cols, &x, y};
  const auto fn = [&job](size_t r0, size_t r1) {
    job.kernel(job.type, job.w, job.rb, job.rows, job.cols, job.x, job.y, r0, r1);
  };
  if (pool == nullptr || pool->size() == 1 || rows * rb * x.n_rows < kMinParallelBytes) {
    fn(0, rows);
    return;
  }
  pool->parallel_for(rows, fn, kRowGrain);
}

}  // namespace kvforge::core
#endif  // HWY_ONCE

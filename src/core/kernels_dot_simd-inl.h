// Per-target dot products of a float vector with a row of F32, F16/BF16, Q8_0,
// Q4_0 and Q4_K weights, for kernels.cc's row dispatch (the other block types
// are in kernels_quant_simd.cc). Included once per target by foreach_target,
// hence the toggle guard instead of #pragma once.
#if defined(KVFORGE_CORE_KERNELS_DOT_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef KVFORGE_CORE_KERNELS_DOT_SIMD_INL_H_
#undef KVFORGE_CORE_KERNELS_DOT_SIMD_INL_H_
#else
#define KVFORGE_CORE_KERNELS_DOT_SIMD_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <hwy/highway.h>

#include "core/kernels_ref.h"
#include "kvforge/core/half.h"

#include "core/half_scale-inl.h"

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float DotF32(const float* a, const float* b, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * N), hn::LoadU(d, b + i + 2 * N), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * N), hn::LoadU(d, b + i + 3 * N), s3);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Dot of a row of 16-bit floats (fp16 or bf16; PromoteTo picks the widening).
template <typename T16>
float Dot16(const uint16_t* w, const float* x, size_t n) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<T16, decltype(d)> dh;
  const size_t N = hn::Lanes(d);
  const T16* p = reinterpret_cast<const T16*>(w);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    // No software prefetch: 1 KiB ahead was measured faster on one machine,
    // and 7-30% slower on 2 threads on the Zen 5 these figures come from
    // (docs/PERFORMANCE.md); the hardware prefetchers follow rows unaided.
    s0 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, p + i)), hn::LoadU(d, x + i), s0);
    s1 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, p + i + N)), hn::LoadU(d, x + i + N), s1);
    s2 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, p + i + 2 * N)), hn::LoadU(d, x + i + 2 * N), s2);
    s3 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, p + i + 3 * N)), hn::LoadU(d, x + i + 3 * N), s3);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, p + i)), hn::LoadU(d, x + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) {
    s += (std::is_same_v<T16, hwy::bfloat16_t> ? bf16_to_f32(w[i]) : fp16_to_f32(w[i])) * x[i];
  }
  return s;
}

// Blocks of 32 hold 2..8 vectors; capping at 16 lanes keeps the code generic.
using DQ = hn::CappedTag<float, 16>;

// Sum over one Q8_0 block of q * x (unscaled).
HWY_INLINE hn::Vec<DQ> Q8Block(const uint8_t* blk, const float* x) {
  const DQ d;
  const hn::Rebind<int8_t, DQ> d8;
  const hn::Rebind<int32_t, DQ> di;
  const size_t N = hn::Lanes(d);
  const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
  auto s = hn::Zero(d);
  for (size_t j = 0; j < 32; j += N) {
    s = hn::MulAdd(hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(d8, qs + j))), hn::LoadU(d, x + j), s);
  }
  return s;
}

// 32-element blocks of kBlockBytes, each an fp16 scale then its quants:
// sum_b scale_b * block(b, x_b), with two accumulators to hide the FMA latency.
template <size_t kBlockBytes, typename Block>
HWY_INLINE float DotScaledBlocks(const uint8_t* row, const float* x, size_t n, Block block) {
  const DQ d;
  const size_t nb = n / 32;
  auto acc0 = hn::Zero(d), acc1 = hn::Zero(d);
  size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* b0 = row + b * kBlockBytes;
    const uint8_t* b1 = b0 + kBlockBytes;
    acc0 = hn::MulAdd(hn::Set(d, LoadHalf(b0)), block(b0, x + b * 32), acc0);
    acc1 = hn::MulAdd(hn::Set(d, LoadHalf(b1)), block(b1, x + b * 32 + 32), acc1);
  }
  if (b < nb) {
    const uint8_t* last = row + b * kBlockBytes;
    acc0 = hn::MulAdd(hn::Set(d, LoadHalf(last)), block(last, x + b * 32), acc0);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
}

float DotQ8_0(const uint8_t* row, const float* x, size_t n) {
  return DotScaledBlocks<34>(row, x, n, [](const uint8_t* blk, const float* xb) { return Q8Block(blk, xb); });
}

// Sum over one Q4_0 block of (nibble - 8) * x (unscaled).
HWY_INLINE hn::Vec<DQ> Q4Block(const uint8_t* blk, const float* x) {
  const DQ d;
  const hn::Rebind<uint8_t, DQ> d8;
  const hn::Rebind<int32_t, DQ> di;
  const size_t N = hn::Lanes(d);
  const uint8_t* qs = blk + 2;
  const auto k15 = hn::Set(di, 15);
  const auto k8 = hn::Set(di, 8);
  auto lo_sum = hn::Zero(d), hi_sum = hn::Zero(d);
  for (size_t j = 0; j < 16; j += N) {
    const auto bytes = hn::PromoteTo(di, hn::LoadU(d8, qs + j));
    const auto lo = hn::ConvertTo(d, hn::Sub(hn::And(bytes, k15), k8));
    const auto hi = hn::ConvertTo(d, hn::Sub(hn::ShiftRight<4>(bytes), k8));
    lo_sum = hn::MulAdd(lo, hn::LoadU(d, x + j), lo_sum);
    hi_sum = hn::MulAdd(hi, hn::LoadU(d, x + 16 + j), hi_sum);
  }
  return hn::Add(lo_sum, hi_sum);
}

float DotQ4_0(const uint8_t* row, const float* x, size_t n) {
  return DotScaledBlocks<18>(row, x, n, [](const uint8_t* blk, const float* xb) { return Q4Block(blk, xb); });
}

// Q4_K: sum_l (d*sc*q_l - dmin*m) x_l = d*sc*sum(q x) - dmin*m*sum(x), per sub-block of 32.
float DotQ4_K(const uint8_t* row, const float* x, size_t n) {
  const DQ d;
  const hn::Rebind<uint8_t, DQ> d8;
  const hn::Rebind<int32_t, DQ> di;
  const size_t N = hn::Lanes(d);
  const auto k15 = hn::Set(di, 15);
  auto acc = hn::Zero(d);
  for (size_t b = 0; b < n / 256; ++b) {
    const uint8_t* blk = row + b * 144;
    const float dall = LoadHalf(blk);
    const float dmin = LoadHalf(blk + 2);
    const uint8_t* scales = blk + 4;
    const uint8_t* q = blk + 16;
    const float* xb = x + b * 256;
    for (int j = 0; j < 8; j += 2) {
      uint8_t sc1, m1, sc2, m2;
      ref::q4_k_scale_min(j, scales, &sc1, &m1);
      ref::q4_k_scale_min(j + 1, scales, &sc2, &m2);
      auto qx1 = hn::Zero(d), x1 = hn::Zero(d), qx2 = hn::Zero(d), x2 = hn::Zero(d);
      for (size_t l = 0; l < 32; l += N) {
        const auto bytes = hn::PromoteTo(di, hn::LoadU(d8, q + l));
        const auto xa = hn::LoadU(d, xb + l);
        const auto xh = hn::LoadU(d, xb + 32 + l);
        qx1 = hn::MulAdd(hn::ConvertTo(d, hn::And(bytes, k15)), xa, qx1);
        qx2 = hn::MulAdd(hn::ConvertTo(d, hn::ShiftRight<4>(bytes)), xh, qx2);
        x1 = hn::Add(x1, xa);
        x2 = hn::Add(x2, xh);
      }
      acc = hn::MulAdd(hn::Set(d, dall * sc1), qx1, acc);
      acc = hn::NegMulAdd(hn::Set(d, dmin * m1), x1, acc);
      acc = hn::MulAdd(hn::Set(d, dall * sc2), qx2, acc);
      acc = hn::NegMulAdd(hn::Set(d, dmin * m2), x2, acc);
      q += 32;
      xb += 64;
    }
  }
  return hn::GetLane(hn::SumOfLanes(d, acc));
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // toggle guard

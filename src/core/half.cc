// fp16/bf16 conversions. The scalar functions are the exact definitions (IEEE
// round to nearest even, subnormals, inf and NaN kept); the row functions use
// the hardware F16C converters when the dispatched target has them, which give
// bit-identical results, and fall back to the scalar code otherwise (Highway's
// emulated f16 conversions on SSE4 truncate and mishandle inf/NaN).
#include "kvforge/core/half.h"

#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/half.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#ifndef KVF_HALF_SCALAR_ONCE
#define KVF_HALF_SCALAR_ONCE
namespace kvforge::core {
namespace {
inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return bits_f32(sign | 0x7F800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bits_f32(sign);
    // Subnormal: shift the leading one into the implicit-bit position.
    uint32_t e = 113;  // exponent of 2^-14 in f32, minus the shift below
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    return bits_f32(sign | (e << 23) | ((mant & 0x3FFu) << 13));
  }
  return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_fp16(float f) {
  const uint32_t bits = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t x = bits & 0x7FFFFFFFu;
  if (x >= 0x7F800000u) {
    if (x == 0x7F800000u) return sign | 0x7C00u;
    // NaN: keep it quiet and keep the top payload bits.
    return static_cast<uint16_t>(sign | 0x7E00u | ((x >> 13) & 0x3FFu));
  }
  if (x >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 rounds to inf
  const uint32_t e = x >> 23;
  if (e < 113) {
    if (e < 102) return sign;  // below half the smallest subnormal (ties go to 0)
    const uint32_t m = (x & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;  // may carry into the min normal: correct
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t h = ((e - 112) << 10) | ((x >> 13) & 0x3FFu);
  const uint32_t rem = x & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carry may step into the exponent: correct
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
  uint32_t bits = f32_bits(f);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
}  // namespace kvforge::core
#endif  // KVF_HALF_SCALAR_ONCE

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_ARCH_X86 && (HWY_TARGET <= HWY_AVX2)
#define KVF_HALF_HW 1
#else
#define KVF_HALF_HW 0
#endif

using DF = hn::ScalableTag<float>;
using DH = hn::Rebind<hwy::float16_t, DF>;

// Whole vectors through `vec` where the CPU converts in hardware, the rest (or
// everything, elsewhere) through the scalar `one`.
template <class Src, class Dst, class Vec, class One>
HWY_INLINE void ConvertRow(const Src* src, Dst* dst, size_t n, Vec vec, One one) {
  size_t i = 0;
#if KVF_HALF_HW
  const size_t N = hn::Lanes(DF());
  for (; i + N <= n; i += N) vec(src + i, dst + i);
#else
  (void)vec;
#endif
  for (; i < n; ++i) dst[i] = one(src[i]);
}

void Fp16ToF32Row(const uint16_t* src, float* dst, size_t n) {
  ConvertRow(
      src, dst, n,
      [](const uint16_t* s, float* d) {
        hn::StoreU(hn::PromoteTo(DF(), hn::LoadU(DH(), reinterpret_cast<const hwy::float16_t*>(s))), DF(), d);
      },
      [](uint16_t h) { return fp16_to_f32(h); });
}

void F32ToFp16Row(const float* src, uint16_t* dst, size_t n) {
  ConvertRow(
      src, dst, n,
      [](const float* s, uint16_t* d) {
        hn::StoreU(hn::DemoteTo(DH(), hn::LoadU(DF(), s)), DH(), reinterpret_cast<hwy::float16_t*>(d));
      },
      [](float f) { return f32_to_fp16(f); });
}

// dst = fp16(src) widened back: the value an fp16 store would keep. dst may alias src.
void RoundFp16Row(const float* src, float* dst, size_t n) {
  ConvertRow(
      src, dst, n,
      [](const float* s, float* d) {
        hn::StoreU(hn::PromoteTo(DF(), hn::DemoteTo(DH(), hn::LoadU(DF(), s))), DF(), d);
      },
      [](float f) { return fp16_to_f32(f32_to_fp16(f)); });
}
#undef KVF_HALF_HW

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace kvforge::core {
HWY_EXPORT(Fp16ToF32Row);
HWY_EXPORT(F32ToFp16Row);
HWY_EXPORT(RoundFp16Row);

void fp16_to_f32_row(const uint16_t* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(Fp16ToF32Row)(src, dst, n);
}
void f32_to_fp16_row(const float* src, uint16_t* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(F32ToFp16Row)(src, dst, n);
}
void round_to_fp16_row(const float* src, float* dst, size_t n) { HWY_DYNAMIC_DISPATCH(RoundFp16Row)(src, dst, n); }
// A 16-bit shift and a rounding add: the compiler vectorizes these loops at the
// baseline ISA already, and they sit off the hot path.
void bf16_to_f32_row(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}
void f32_to_bf16_row(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}
}  // namespace kvforge::core
#endif

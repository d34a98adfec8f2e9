// Attention's inner loops over an F16 KV cache (kernels.h: dot_slots_f16,
// axpy_slots_f16), compiled per SIMD target: rows picked by slot index are
// widened from fp16 in registers and used at once, one call per query head
// instead of a dispatched dot or axpy per slot. Decode at long context is these
// two loops; they read half the bytes of an F32 cache.
#include <cstring>

#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels_slots_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DH = hn::Rebind<hwy::float16_t, DF>;

HWY_INLINE hn::Vec<DF> LoadHalf(const uint16_t* p) {
  return hn::PromoteTo(DF(), hn::LoadU(DH(), reinterpret_cast<const hwy::float16_t*>(p)));
}

// Dot of q with one fp16 row of d elements, summed in exactly DotF32's order
// (kernels.cc): widening is exact, so a row read here and the same row widened
// to fp32 and passed to dot_f32 give the same bits (retrieval serves some rows
// widened, and its tests hold whole sessions to bit equality).
HWY_INLINE float DotHalfRow(const uint16_t* row, const float* q, size_t d) {
  const DF df;
  const size_t N = hn::Lanes(df);
  auto s0 = hn::Zero(df), s1 = hn::Zero(df), s2 = hn::Zero(df), s3 = hn::Zero(df);
  size_t j = 0;
  for (; j + 4 * N <= d; j += 4 * N) {
    s0 = hn::MulAdd(LoadHalf(row + j), hn::LoadU(df, q + j), s0);
    s1 = hn::MulAdd(LoadHalf(row + j + N), hn::LoadU(df, q + j + N), s1);
    s2 = hn::MulAdd(LoadHalf(row + j + 2 * N), hn::LoadU(df, q + j + 2 * N), s2);
    s3 = hn::MulAdd(LoadHalf(row + j + 3 * N), hn::LoadU(df, q + j + 3 * N), s3);
  }
  for (; j + N <= d; j += N) s0 = hn::MulAdd(LoadHalf(row + j), hn::LoadU(df, q + j), s0);
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; j < d; ++j) s += fp16_to_f32(row[j]) * q[j];
  return s;
}

void DotSlotsF16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* q, float scale,
                 float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = DotHalfRow(base + static_cast<size_t>(slots[i]) * d, q, d) * scale;
}

// y += sum_i w[i] * row(slots[i]), y held in registers four vectors at a time:
// per element the same FMAs in the same order as one axpy_f32 per slot.
void AxpySlotsF16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* w, float* y) {
  const DF df;
  const size_t N = hn::Lanes(df);
  size_t j0 = 0;
  for (; j0 + 4 * N <= d; j0 += 4 * N) {
    auto a0 = hn::LoadU(df, y + j0), a1 = hn::LoadU(df, y + j0 + N);
    auto a2 = hn::LoadU(df, y + j0 + 2 * N), a3 = hn::LoadU(df, y + j0 + 3 * N);
    for (size_t i = 0; i < n; ++i) {
      const uint16_t* row = base + static_cast<size_t>(slots[i]) * d + j0;
      const auto wv = hn::Set(df, w[i]);
      a0 = hn::MulAdd(wv, LoadHalf(row), a0);
      a1 = hn::MulAdd(wv, LoadHalf(row + N), a1);
      a2 = hn::MulAdd(wv, LoadHalf(row + 2 * N), a2);
      a3 = hn::MulAdd(wv, LoadHalf(row + 3 * N), a3);
    }
    hn::StoreU(a0, df, y + j0);
    hn::StoreU(a1, df, y + j0 + N);
    hn::StoreU(a2, df, y + j0 + 2 * N);
    hn::StoreU(a3, df, y + j0 + 3 * N);
  }
  for (; j0 + N <= d; j0 += N) {
    auto a = hn::LoadU(df, y + j0);
    for (size_t i = 0; i < n; ++i) {
      a = hn::MulAdd(hn::Set(df, w[i]), LoadHalf(base + static_cast<size_t>(slots[i]) * d + j0), a);
    }
    hn::StoreU(a, df, y + j0);
  }
  for (; j0 < d; ++j0) {
    float s = y[j0];
    for (size_t i = 0; i < n; ++i) s += w[i] * fp16_to_f32(base[static_cast<size_t>(slots[i]) * d + j0]);
    y[j0] = s;
  }
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace kvforge::core {
HWY_EXPORT(DotSlotsF16);
HWY_EXPORT(AxpySlotsF16);

void dot_slots_f16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* q, float scale,
                   float* out) {
  HWY_DYNAMIC_DISPATCH(DotSlotsF16)(base, slots, n, d, q, scale, out);
}
void axpy_slots_f16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* w, float* y) {
  HWY_DYNAMIC_DISPATCH(AxpySlotsF16)(base, slots, n, d, w, y);
}

namespace ref {
void dot_slots_f16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* q, float scale,
                   float* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint16_t* row = base + static_cast<size_t>(slots[i]) * d;
    float s = 0.0f;
    for (size_t j = 0; j < d; ++j) s += fp16_to_f32(row[j]) * q[j];
    out[i] = s * scale;
  }
}
void axpy_slots_f16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* w, float* y) {
  for (size_t i = 0; i < n; ++i) {
    const uint16_t* row = base + static_cast<size_t>(slots[i]) * d;
    for (size_t j = 0; j < d; ++j) y[j] += w[i] * fp16_to_f32(row[j]);
  }
}
}  // namespace ref

}  // namespace kvforge::core
#endif  // HWY_ONCE

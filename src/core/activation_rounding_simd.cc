// Vectorized q8_0 / q8_K activation rounding (activation_rounding.h): the same
// arithmetic as the scalar definitions in activation_rounding.cc, lane by lane
// (Highway's Round is round-half-to-even, as nearbyint in the default mode),
// so results are bit-identical. Prefill rounds every token of a batch before
// each product, which the scalar code (a libm call per element on baseline
// x86-64) made a visible share of prefill time.
#include <cmath>
#include <cstddef>

#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/quantized_activations.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/activation_rounding_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// n a multiple of 32.
void RoundQ8_0(const float* x, float* out, size_t n) {
  const hn::CappedTag<float, 32> d;
  const size_t N = hn::Lanes(d);
  for (size_t b = 0; b < n; b += 32) {
    auto vmax = hn::Zero(d);
    for (size_t j = 0; j < 32; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(d, x + b + j)));
    const float amax = hn::GetLane(hn::MaxOfLanes(d, vmax));
    const auto scale = hn::Set(d, fp16_to_f32(f32_to_fp16(amax / 127.0f)));
    const auto inv = hn::Set(d, amax != 0.0f ? 127.0f / amax : 0.0f);
    for (size_t j = 0; j < 32; j += N) {
      hn::StoreU(hn::Mul(scale, hn::Round(hn::Mul(hn::LoadU(d, x + b + j), inv))), d, out + b + j);
    }
  }
}

// n a multiple of 256. The scale comes from the signed value of largest
// magnitude (the first one, as the scalar loop finds it).
void RoundQ8_K(const float* x, float* out, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  for (size_t b = 0; b < n; b += 256) {
    auto vmax = hn::Zero(d);
    for (size_t j = 0; j < 256; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(d, x + b + j)));
    const float amax = hn::GetLane(hn::MaxOfLanes(d, vmax));
    if (amax == 0.0f) {
      for (size_t j = 0; j < 256; j += N) hn::StoreU(hn::Zero(d), d, out + b + j);
      continue;
    }
    float max = 0.0f;
    for (size_t j = 0; j < 256; ++j) {
      if (std::fabs(x[b + j]) == amax) {
        max = x[b + j];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const auto vi = hn::Set(d, iscale), vd = hn::Set(d, 1.0f / iscale), cap = hn::Set(d, 127.0f);
    for (size_t j = 0; j < 256; j += N) {
      const auto q = hn::Min(cap, hn::Round(hn::Mul(vi, hn::LoadU(d, x + b + j))));
      hn::StoreU(hn::Mul(vd, q), d, out + b + j);
    }
  }
}

// The codes RoundQ8_0 multiplies by the scale, stored as int8, and their sums.
void QuantizeQ8_0(const float* x, size_t nb, BlockQ8_0x* out, float* scales, int32_t* neg_sums) {
  const hn::CappedTag<float, 32> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<int8_t, decltype(d)> d8;
  const size_t N = hn::Lanes(d);
  for (size_t b = 0; b < nb; ++b, x += 32) {
    auto vmax = hn::Zero(d);
    for (size_t j = 0; j < 32; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(d, x + j)));
    const float amax = hn::GetLane(hn::MaxOfLanes(d, vmax));
    out[b].d = f32_to_fp16(amax / 127.0f);
    const auto inv = hn::Set(d, amax != 0.0f ? 127.0f / amax : 0.0f);
    auto sum = hn::Zero(di);
    for (size_t j = 0; j < 32; j += N) {
      const auto q = hn::ConvertTo(di, hn::Round(hn::Mul(hn::LoadU(d, x + j), inv)));
      sum = hn::Add(sum, q);
      hn::StoreU(hn::DemoteTo(d8, q), d8, out[b].qs + j);
    }
    scales[b] = fp16_to_f32(out[b].d);
    neg_sums[b] = -hn::GetLane(hn::SumOfLanes(di, sum));
  }
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace kvforge::core {
HWY_EXPORT(RoundQ8_0);
HWY_EXPORT(RoundQ8_K);
HWY_EXPORT(QuantizeQ8_0);

void round_q8_0_rows(const float* x, float* out, size_t n) { HWY_DYNAMIC_DISPATCH(RoundQ8_0)(x, out, n); }
void round_q8_k_rows(const float* x, float* out, size_t n) { HWY_DYNAMIC_DISPATCH(RoundQ8_K)(x, out, n); }
void quantize_q8_0_blocks(const float* x, size_t nb, BlockQ8_0x* out, float* scales, int32_t* neg_sums) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ8_0)(x, nb, out, scales, neg_sums);
}

}  // namespace kvforge::core
#endif  // HWY_ONCE

// Vectorized element-wise kernels over float vectors (axpy, scale, softmax,
// RMSNorm, SiLU·mul), compiled once per SIMD target (Highway foreach_target)
// and dispatched at run time; never built with -march=native.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kvforge/core/kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels_vector_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void AxpyF32(float a, const float* x, float* y, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto va = hn::Set(d, a);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

void ScaleF32(float* x, float s, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vs = hn::Set(d, s);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vs), d, x + i);
  for (; i < n; ++i) x[i] *= s;
}

void SoftmaxF32(float* x, size_t n) {
  if (n == 0) return;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  float max_val = x[0];
  if (n >= N) {
    auto vmax = hn::LoadU(d, x);
    for (i = N; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
    max_val = hn::GetLane(hn::MaxOfLanes(d, vmax));
  }
  for (; i < n; ++i) max_val = std::max(max_val, x[i]);
  const auto vm = hn::Set(d, max_val);
  auto vsum = hn::Zero(d);
  for (i = 0; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vm));
    hn::StoreU(e, d, x + i);
    vsum = hn::Add(vsum, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  for (; i < n; ++i) {
    x[i] = expf(x[i] - max_val);
    sum += x[i];
  }
  const auto vs = hn::Set(d, sum);
  for (i = 0; i + N <= n; i += N) hn::StoreU(hn::Div(hn::LoadU(d, x + i), vs), d, x + i);
  for (; i < n; ++i) x[i] /= sum;
}

void RmsnormF32(float* out, const float* x, const float* weight, size_t n, float eps) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::LoadU(d, x + i);
    const auto b = hn::LoadU(d, x + i + N);
    s0 = hn::MulAdd(a, a, s0);
    s1 = hn::MulAdd(b, b, s1);
  }
  for (; i + N <= n; i += N) {
    const auto a = hn::LoadU(d, x + i);
    s0 = hn::MulAdd(a, a, s0);
  }
  float ss = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) ss += x[i] * x[i];
  ss /= static_cast<float>(n);
  ss += eps;
  ss = 1.0f / sqrtf(ss);
  const auto vs = hn::Set(d, ss);
  for (i = 0; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::LoadU(d, weight + i), hn::Mul(vs, hn::LoadU(d, x + i))), d, out + i);
  }
  for (; i < n; ++i) out[i] = weight[i] * (ss * x[i]);
}

void SiluMulF32(float* gate, const float* up, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto one = hn::Set(d, 1.0f);
  const auto max_arg = hn::Set(d, 88.0f);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(d, gate + i);
    // Highway's Exp is only defined up to ~88; beyond, expf gives inf and the
    // sigmoid 0, which the clamp reproduces to within a denormal.
    const auto sig = hn::Div(one, hn::Add(one, hn::Exp(d, hn::Min(hn::Neg(g), max_arg))));
    hn::StoreU(hn::Mul(hn::Mul(g, sig), hn::LoadU(d, up + i)), d, gate + i);
  }
  for (; i < n; ++i) {
    float val = gate[i];
    val *= 1.0f / (1.0f + expf(-val));
    gate[i] = val * up[i];
  }
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace kvforge::core {
HWY_EXPORT(AxpyF32);
HWY_EXPORT(ScaleF32);
HWY_EXPORT(SoftmaxF32);
HWY_EXPORT(RmsnormF32);
HWY_EXPORT(SiluMulF32);

void axpy_f32(float a, const float* x, float* y, size_t n) { HWY_DYNAMIC_DISPATCH(AxpyF32)(a, x, y, n); }
void scale_f32(float* x, float s, size_t n) { HWY_DYNAMIC_DISPATCH(ScaleF32)(x, s, n); }
void softmax_f32(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxF32)(x, n); }
void rmsnorm_f32(float* out, const float* x, const float* weight, size_t n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsnormF32)(out, x, weight, n, eps);
}
void silu_mul_f32(float* gate, const float* up, size_t n) { HWY_DYNAMIC_DISPATCH(SiluMulF32)(gate, up, n); }

}  // namespace kvforge::core
#endif  // HWY_ONCE

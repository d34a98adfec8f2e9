// Per-target helpers shared by the block kernels of kernels_quant_simd.cc and
// kernels_kquant_simd.cc. Included once per target by foreach_target, hence
// the toggle guard; everything is TU-local.
#if defined(KVFORGE_CORE_KERNELS_QUANT_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef KVFORGE_CORE_KERNELS_QUANT_SIMD_INL_H_
#undef KVFORGE_CORE_KERNELS_QUANT_SIMD_INL_H_
#else
#define KVFORGE_CORE_KERNELS_QUANT_SIMD_INL_H_
#endif

#include <cstring>

#include <hwy/highway.h>

#include "core/half_scale-inl.h"
#include "kvforge/core/half.h"

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace {
namespace hn = hwy::HWY_NAMESPACE;

// Blocks hold 16 or 32 elements per run; capping at 16 lanes keeps every
// loop a whole number of vectors on all targets.
using DF = hn::CappedTag<float, 16>;
using DI = hn::Rebind<int32_t, DF>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;

HWY_INLINE uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Lanes() bytes from p, zero-extended to int32 lanes.
HWY_INLINE VI LoadBytes(const uint8_t* p) { return hn::PromoteTo(DI(), hn::LoadU(hn::Rebind<uint8_t, DF>(), p)); }
HWY_INLINE VF ToFloat(VI v) { return hn::ConvertTo(DF(), v); }
HWY_INLINE float Sum(VF v) { return hn::GetLane(hn::SumOfLanes(DF(), v)); }

}  // namespace
}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // toggle guard

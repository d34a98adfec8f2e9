// Per-target read of one fp16 block scale (block formats store them at odd
// strides), shared by every block kernel. F16C converts one in a single
// instruction where the target has it. Included once per target by
// foreach_target, hence the toggle guard instead of #pragma once.
#if defined(KVFORGE_CORE_HALF_SCALE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef KVFORGE_CORE_HALF_SCALE_INL_H_
#undef KVFORGE_CORE_HALF_SCALE_INL_H_
#else
#define KVFORGE_CORE_HALF_SCALE_INL_H_
#endif

#include <cstdint>
#include <cstring>

#include <hwy/highway.h>

#include "kvforge/core/half.h"

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {

HWY_INLINE float LoadHalf(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
#if HWY_ARCH_X86 && (HWY_TARGET <= HWY_AVX2)
  return _cvtsh_ss(h);
#else
  return fp16_to_f32(h);
#endif
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // KVFORGE_CORE_HALF_SCALE_INL_H_

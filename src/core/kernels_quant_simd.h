// Per-target entry points of kernels_quant_simd.cc, for kernels.cc's own
// per-target code: its row dispatch calls the same target's kernel directly
// (no second dynamic dispatch per row). Included once per target by
// foreach_target, hence the toggle guard instead of #pragma once.
//
// Each takes a row of n elements (n a multiple of the type's block size) at
// any 2-byte alignment.
#if defined(KVFORGE_CORE_KERNELS_QUANT_SIMD_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef KVFORGE_CORE_KERNELS_QUANT_SIMD_H_
#undef KVFORGE_CORE_KERNELS_QUANT_SIMD_H_
#else
#define KVFORGE_CORE_KERNELS_QUANT_SIMD_H_
#endif

#include <cstddef>
#include <cstdint>

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {

float DotQ4_1(const uint8_t* row, const float* x, size_t n);
float DotQ5_0(const uint8_t* row, const float* x, size_t n);
float DotQ5_1(const uint8_t* row, const float* x, size_t n);
float DotIQ4_NL(const uint8_t* row, const float* x, size_t n);
float DotQ2_K(const uint8_t* row, const float* x, size_t n);
float DotQ3_K(const uint8_t* row, const float* x, size_t n);
float DotQ5_K(const uint8_t* row, const float* x, size_t n);
float DotQ6_K(const uint8_t* row, const float* x, size_t n);

// Bit-identical to the ref:: decoders (same products, never fused).
void DequantizeQ4_1(const uint8_t* row, float* out, size_t n);
void DequantizeQ5_0(const uint8_t* row, float* out, size_t n);
void DequantizeQ5_1(const uint8_t* row, float* out, size_t n);
void DequantizeIQ4_NL(const uint8_t* row, float* out, size_t n);
void DequantizeQ2_K(const uint8_t* row, float* out, size_t n);
void DequantizeQ3_K(const uint8_t* row, float* out, size_t n);
void DequantizeQ5_K(const uint8_t* row, float* out, size_t n);
void DequantizeQ6_K(const uint8_t* row, float* out, size_t n);

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // toggle guard

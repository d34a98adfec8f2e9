// IEEE binary16 and bfloat16 conversions (scalar, exact rounding to nearest even),
// plus row converters that use the CPU's fastest path chosen at run time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvforge::core {

float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

void fp16_to_f32_row(const uint16_t* src, float* dst, size_t n);
void f32_to_fp16_row(const float* src, uint16_t* dst, size_t n);
// dst[i] = fp16_to_f32(f32_to_fp16(src[i])): what an fp16 store keeps. dst may alias src.
void round_to_fp16_row(const float* src, float* dst, size_t n);
void bf16_to_f32_row(const uint16_t* src, float* dst, size_t n);
void f32_to_bf16_row(const float* src, uint16_t* dst, size_t n);

}  // namespace kvforge::core

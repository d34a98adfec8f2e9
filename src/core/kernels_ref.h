// Plain scalar reference kernels: the definition of correct for kernels.h.
// Written for clarity (llama2.c / GGML semantics), not speed; tests compare the
// vectorized kernels against these.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvforge/core/tensor_type.h"

namespace kvforge::core {

// GGML block layouts. Weights in a file may sit at any even offset, so code
// reads the fp16 fields with memcpy rather than through these structs.
struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;      // fp16 scale
  uint8_t qs[16];  // element j: low nibble of qs[j]; element j+16: high nibble
};
struct BlockQ4_K {
  uint16_t d;           // fp16 super-block scale of the sub-block scales
  uint16_t dmin;        // fp16 super-block scale of the sub-block mins
  uint8_t scales[12];   // 8 x (6-bit scale, 6-bit min), packed
  uint8_t qs[128];      // nibbles: 4 chunks of 64 elements, low nibbles first
};
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);

namespace ref {

float dot_f32(const float* a, const float* b, size_t n);
void axpy_f32(float a, const float* x, float* y, size_t n);
void scale_f32(float* x, float s, size_t n);
void softmax_f32(float* x, size_t n);
void rmsnorm_f32(float* out, const float* x, const float* weight, size_t n, float eps);
void rope_f32(float* x, int n_heads, int head_dim, int pos, float theta);
void silu_mul_f32(float* gate, const float* up, size_t n);

// Sub-block j (0..7) scale and min of a Q4_K super-block (GGML get_scale_min_k4).
void q4_k_scale_min(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m);

void dequantize_row(TensorType type, const void* row, float* out, size_t n);
float dot_row(TensorType type, const void* row, const float* x, size_t n);
void matvec(TensorType type, const void* w, size_t rows, size_t cols, const float* x, float* y);
void matmul(TensorType type, const void* w, size_t rows, size_t cols, const float* x, size_t n_tokens,
            float* y);

// GGML's reference quantizers (n a multiple of 32); used to build test data
// and quantized caches.
void quantize_row_q8_0(const float* x, void* out, size_t n);
void quantize_row_q4_0(const float* x, void* out, size_t n);

}  // namespace ref
}  // namespace kvforge::core

// Plain scalar reference kernels: the definition of correct for kernels.h.
// Written for clarity (llama2.c / GGML semantics), not speed; tests compare the
// vectorized kernels against these.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cstring>

#include "kvforge/core/half.h"
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
struct BlockQ4_1 {
  uint16_t d, m;   // fp16 scale and offset: x = q * d + m
  uint8_t qs[16];  // nibbles as in Q4_0
};
struct BlockQ5_0 {
  uint16_t d;      // fp16 scale: x = (q - 16) * d
  uint8_t qh[4];   // bit j (little-endian uint32) is bit 4 of element j
  uint8_t qs[16];  // low 4 bits, nibbles as in Q4_0
};
struct BlockQ5_1 {
  uint16_t d, m;   // x = q * d + m
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockIQ4_NL {
  uint16_t d;      // x = d * kIq4nlValues[nibble]
  uint8_t qs[16];  // nibbles as in Q4_0
};
// K-quants: 256 elements in sub-blocks; sub-block scales are themselves
// quantized against fp16 super-block scales.
struct BlockQ2_K {
  uint8_t scales[16];  // sub-block j (16 elements): low nibble scale, high nibble min
  uint8_t qs[64];      // 2-bit quants: 2 groups of 128; byte l, bits 2s hold element 32s + l
  uint16_t d, dmin;    // x = d * scale * q - dmin * min
};
struct BlockQ3_K {
  uint8_t hmask[32];   // bit 3 of the quant: element 32k + l has bit k of hmask[l]
  uint8_t qs[64];      // low 2 bits, laid out as in Q2_K
  uint8_t scales[12];  // 16 x 6-bit scales (offset 32), packed; see q3_k_scale
  uint16_t d;          // x = d * (scale - 32) * (q - 4)
};
struct BlockQ5_K {
  uint16_t d, dmin;    // as in Q4_K
  uint8_t scales[12];  // as in Q4_K
  uint8_t qh[32];      // bit 4: element 32k + l has bit k of qh[l]
  uint8_t qs[128];     // low 4 bits, laid out as in Q4_K
};
struct BlockQ6_K {
  uint8_t ql[128];    // low 4 bits; per 128 elements: 64 bytes, element l / l+32 low
                      // nibbles, l+64 / l+96 high nibbles of bytes l / l+32
  uint8_t qh[64];     // high 2 bits; per 128 elements: byte l, bits 2k for element l + 32k
  int8_t scales[16];  // one per 16 elements
  uint16_t d;         // x = d * scale * (q - 32)
};
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

// IQ4_NL's fixed non-linear levels (GGML kvalues_iq4nl).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// The SIMD versions (activation_rounding_simd.cc), dispatched at run time.
void round_q8_0_rows(const float* x, float* out, size_t n);
void round_q8_k_rows(const float* x, float* out, size_t n);
// nb q8_0 blocks of x quantized into out (ggml's block_q8_0), with each block's
// scale as a float and minus the sum of its codes (QuantizedRow's fields).
struct BlockQ8_0x;
struct BlockQ8_K;
void quantize_q8_0_blocks(const float* x, size_t nb, BlockQ8_0x* out, float* scales, int32_t* neg_sums);

namespace ref {

// q8_0 / q8_K activation rounding (activation_rounding.h), n a multiple of 32 /
// 256: the definition round_activations' SIMD versions match bit for bit.
void round_q8_0(const float* x, float* out, size_t n);
void round_q8_k(const float* x, float* out, size_t n);
// The scalar definition quantize_q8_0_blocks matches bit for bit.
void quantize_q8_0_blocks(const float* x, size_t nb, BlockQ8_0x* out, float* scales, int32_t* neg_sums);
// Integer dots of nb blocks of the types kernels_int_blocks.h unpacks
// (kernels_ref_q8dot_unpacked.cc).
float dot_unpacked32_q8(TensorType type, const uint8_t* w, const BlockQ8_0x* x, size_t nb);
float dot_unpacked256_q8(TensorType type, const uint8_t* w, const BlockQ8_K* x, size_t nb);

float dot_f32(const float* a, const float* b, size_t n);
void axpy_f32(float a, const float* x, float* y, size_t n);
void scale_f32(float* x, float s, size_t n);
void softmax_f32(float* x, size_t n);
void dot_slots_f16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* q, float scale,
                   float* out);
void axpy_slots_f16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* w, float* y);
void rmsnorm_f32(float* out, const float* x, const float* weight, size_t n, float eps);
void rope_f32(float* x, int n_heads, int head_dim, int pos, float theta);
void silu_mul_f32(float* gate, const float* up, size_t n);

// Sub-block j (0..7) scale and min of a Q4_K/Q5_K super-block (GGML
// get_scale_min_k4). Inline: the SIMD dots call these once per sub-block.
// A block's fp16 scale, at any alignment.
inline float load_fp16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_f32(h);
}

inline void q4_k_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}
// Sub-block j (0..15) scale of a Q3_K super-block, offset removed (-32..31):
// low 4 bits in nibble j / 8 of scales[j % 8], high 2 bits in scales[8 + j % 4].
inline int q3_k_scale(int j, const uint8_t* scales) {
  const int low = j < 8 ? (scales[j] & 0xF) : (scales[j - 8] >> 4);
  const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// Scalar decoders of `nb` whole blocks each (kernels_ref_quants.cc); what
// dequantize_row runs for these types.
void dequantize_q4_1(const uint8_t* p, float* out, size_t nb);
void dequantize_q5_0(const uint8_t* p, float* out, size_t nb);
void dequantize_q5_1(const uint8_t* p, float* out, size_t nb);
void dequantize_iq4_nl(const uint8_t* p, float* out, size_t nb);
void dequantize_q2_k(const uint8_t* p, float* out, size_t nb);
void dequantize_q3_k(const uint8_t* p, float* out, size_t nb);
void dequantize_q5_k(const uint8_t* p, float* out, size_t nb);
void dequantize_q6_k(const uint8_t* p, float* out, size_t nb);

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

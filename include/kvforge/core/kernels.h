// Numeric kernels of the forward pass. Each has a plain scalar reference in
// kernels_ref.h (the definition of correct) and a vectorized version selected at
// run time for the CPU (Highway dynamic dispatch); tests hold the fast versions
// to the references within a stated tolerance.
//
// Weight matrices are row-major [rows][cols] in their storage TensorType (GGML
// layout: a row is ne[0] = cols elements, stored as cols/block_elems blocks).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvforge/core/tensor_type.h"

namespace kvforge::core {

class ThreadPool;

float dot_f32(const float* a, const float* b, size_t n);
// y += a * x
void axpy_f32(float a, const float* x, float* y, size_t n);
void scale_f32(float* x, float s, size_t n);
// In place, max-subtracted, exp, normalized to sum 1. n may be 0.
void softmax_f32(float* x, size_t n);
// out = x / sqrt(mean(x^2) + eps) * weight. out may alias x.
void rmsnorm_f32(float* out, const float* x, const float* weight, size_t n, float eps);
// Rotary embedding on `n_heads` consecutive heads of `head_dim` floats, pairs
// (2i, 2i+1) rotated by pos * theta^(-2i/head_dim): llama2.c and GGML's "normal"
// (non-NeoX) convention, which GGUF llama files expect.
void rope_f32(float* x, int n_heads, int head_dim, int pos, float theta);
// gate[i] = silu(gate[i]) * up[i]
void silu_mul_f32(float* gate, const float* up, size_t n);

// One row of `n` elements in `type`, dequantized to fp32.
void dequantize_row(TensorType type, const void* row, float* out, size_t n);
// One row of `n` fp32 values stored as `type` (GGML's reference rounding for
// Q8_0/Q4_0; n a multiple of the block size). Other block types (Q4_1, the
// K-quants, IQ4_NL, ...) are read only: NotSupported.
Status quantize_row(TensorType type, const float* x, void* out, size_t n);
// Dot product of one stored row with fp32 x.
float dot_row(TensorType type, const void* row, const float* x, size_t n);

// y[r] = W[r,:] . x for r in [0, rows). W: rows x cols in `type`. pool may be null.
// Q8_0, Q4_0, Q4_K and Q6_K weights take x quantized to activation_type_for(type)
// (q8_0 / q8_K) and multiply in integers (quantized_activations.h), as llama.cpp
// does: the same sum, up to float order, for x already rounded by
// round_activations, as the model passes it.
void matvec(TensorType type, const void* w, size_t rows, size_t cols, const float* x, float* y,
            ThreadPool* pool);

// Y[t][r] = W[r,:] . X[t,:] for t in [0, n_tokens). X: n_tokens x cols, Y: n_tokens x rows,
// both row-major fp32. Few tokens: matvec's kernels, each weight row read once
// and dotted with every token. From kGemmMinTokens on: a register-tiled fp32
// GEMM on weights dequantized a cache-sized tile at a time (never the whole
// matrix; kernels_gemm_simd.cc).
void matmul(TensorType type, const void* w, size_t rows, size_t cols, const float* x,
            size_t n_tokens, float* y, ThreadPool* pool);

// C = A * B^T (b_transposed) or A * B, row-major fp32 through OpenBLAS:
// A is m x k (row stride lda), B is n x k (transposed) or k x n (stride ldb),
// C is m x n (stride ldc), overwritten. BLAS threads follow the pool's size.
void gemm_f32(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb, bool b_transposed,
              float* c, size_t ldc, ThreadPool* pool);

// Attention over fp16 rows picked by slot: row s is base[s * d .. s * d + d).
// out[i] = scale * (q . row(slots[i])) for i < n;  y[0..d) += sum_i w[i] * row(slots[i]).
void dot_slots_f16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* q, float scale,
                   float* out);
void axpy_slots_f16(const uint16_t* base, const int32_t* slots, size_t n, size_t d, const float* w, float* y);

// Name of the SIMD target chosen at run time (e.g. "AVX2", "AVX3", "SSE4").
const char* simd_target_name();

}  // namespace kvforge::core

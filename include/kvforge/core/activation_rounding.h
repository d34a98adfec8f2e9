// The activations a weight type's dot product sees in llama.cpp. ggml converts
// the input of every matrix product to the weight type's "vec_dot_type" before
// multiplying: 8-bit blocks of 32 (q8_0, q8_1) for the 32-element quants, 8-bit
// blocks of 256 with a float scale (q8_K) for the K-quants, fp16 / bf16 for
// F16 / BF16 weights. Rounding kvforge's activations the same way puts its
// logits where llama.cpp's are (quantization is discontinuous, so unrounded
// activations land measurably apart on sensitive models), and is the numeric
// contract the integer dot products must keep.
#pragma once

#include <cstddef>
#include <string_view>

#include "kvforge/core/tensor_type.h"

namespace kvforge::core {

enum class ActivationType { kF32, kF16, kBF16, kQ8_0, kQ8_1, kQ8_K };

// The activation format llama.cpp pairs with `weight`.
ActivationType activation_type_for(TensorType weight);
std::string_view activation_type_name(ActivationType type);

// out[i] = the value x[i] takes after quantization to `type` and back. `n`
// must be a multiple of the type's block (32, or 256 for q8_K). out may alias x.
void round_activations(ActivationType type, const float* x, float* out, size_t n);

// q8_1 carries each block's sum as s = fp16(d * sum(q)), and llama.cpp's
// Q4_1/Q5_1 dot multiplies the weight block's minimum by that s rather than by
// the sum of the rounded values. residual[b] = s - fp16(d) * sum(q) for each of
// the n/32 blocks of x (the unrounded activations).
void q8_1_sum_residuals(const float* x, float* residual, size_t n);
// y[t][r] += sum_b min(W[r], block b) * residual[t][b]: the products over
// Q4_1 / Q5_1 weights (rows x cols) completed to what llama.cpp computes.
void add_block_min_residuals(TensorType type, const void* w, size_t rows, size_t cols, const float* residual,
                             size_t n_tokens, float* y);

}  // namespace kvforge::core

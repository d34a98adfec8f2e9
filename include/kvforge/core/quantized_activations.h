// Activations quantized to int8 blocks, and the integer dot products of
// quantized weight rows with them: llama.cpp's vec_dot_type path. ggml quantizes
// a matrix product's input to q8_0 (Q8_0, Q4_0, Q5_0, IQ4_NL weights), q8_1
// (Q4_1, Q5_1: q8_0's codes plus block sums) or q8_K (the K-quants) and
// sums code products in integers, one float multiply per block; this replaces an
// fp32 FMA per weight element, which made quantized decode compute bound.
//
// The codes and scales are exactly those round_activations implies (same d,
// same codes), so a product over rounded activations and the integer dot agree
// up to float summation order. Quantizing already rounded activations again
// gives the same codes (see the tests), which is what matvec relies on: its
// callers pass activations that round_activations has already rounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kvforge/core/activation_rounding.h"
#include "kvforge/core/tensor_type.h"

namespace kvforge::core {

class ThreadPool;

// ggml's block_q8_0: x[j] ~ fp16(d) * qs[j].
struct BlockQ8_0x {
  uint16_t d;  // fp16 scale
  int8_t qs[32];
};
// ggml's block_q8_K: x[j] ~ d * qs[j]; bsums[g] = sum of qs[16g .. 16g+15].
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
static_assert(sizeof(BlockQ8_0x) == 34);
static_assert(sizeof(BlockQ8_K) == 292);

// A view of one row of n quantized activations (n / block_elems blocks).
// q8_0 rows also carry, per block, the scale as a float and minus the sum of
// the codes: the SIMD kernels read a float where the block has fp16, and fold
// Q4_0's offset of 8 into the integer sum as -8 * sum(x) instead of
// subtracting 8 from every weight code.
struct QuantizedRow {
  ActivationType type = ActivationType::kQ8_0;  // kQ8_0, kQ8_1 (same layout) or kQ8_K
  const void* blocks = nullptr;
  size_t n = 0;
  const float* scales = nullptr;      // q8_0: [n / 32]
  const int32_t* neg_sums = nullptr;  // q8_0: [n / 32]
};

// n_rows rows of n activations each, quantized; owns its storage (reused
// across calls: quantizing into the same object does not reallocate).
struct QuantizedActivations {
  ActivationType type = ActivationType::kQ8_0;
  size_t n = 0, n_rows = 0, row_bytes = 0;
  std::vector<uint8_t> storage;
  std::vector<float> scales;      // q8_0: [n_rows][n / 32]
  std::vector<int32_t> neg_sums;  // q8_0: [n_rows][n / 32]
  QuantizedRow row(size_t t) const {
    const bool q8_0 = type != ActivationType::kQ8_K;
    const size_t nb = n / 32;
    return {type, storage.data() + t * row_bytes, n, q8_0 ? scales.data() + t * nb : nullptr,
            q8_0 ? neg_sums.data() + t * nb : nullptr};
  }
};

// True for the weight types with an integer dot: every quantized type (Q8_0, Q4_0,
// Q5_0, IQ4_NL: q8_0; Q4_1, Q5_1: q8_1; the K-quants: q8_K).
bool has_q8_dot(TensorType weight);

// Quantizes n_rows rows of n floats (row-major) to `type` (kQ8_0, kQ8_1 or kQ8_K;
// n a multiple of 32 or 256) into *out; rows split across `pool` when given.
void quantize_activations(ActivationType type, const float* x, size_t n, size_t n_rows, QuantizedActivations* out,
                          ThreadPool* pool = nullptr);
// The values the codes stand for: round_activations(type, x) bit for bit.
void dequantize_activations(const QuantizedRow& x, float* out);

// sum_j W_row[j] * x[j] with integer block sums, as ggml_vec_dot_<type>_<vec_dot_type>
// defines it. x.type must be activation_type_for(weight_type); n == x.n.
float dot_row_q8(TensorType weight_type, const void* row, const QuantizedRow& x, size_t n);

// y[t][r] = dot_row_q8(W[r], X[t]) for r in [0, rows), t in [0, X.n_rows);
// each weight row is read once and dotted against every token. pool may be null.
void matmul_q8(TensorType type, const void* w, size_t rows, size_t cols, const QuantizedActivations& x, float* y,
               ThreadPool* pool);

namespace ref {
// Scalar reference of dot_row_q8 (the definition of correct for the SIMD
// versions). quantize_activations is scalar itself: it runs once per token,
// not once per weight row.
float dot_row_q8(TensorType weight_type, const void* row, const QuantizedRow& x, size_t n);
}  // namespace ref

}  // namespace kvforge::core

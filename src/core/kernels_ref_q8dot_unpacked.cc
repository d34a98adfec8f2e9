// Scalar integer dots of the block types read through kernels_int_blocks.h
// (Q4_1, Q5_0, Q5_1, IQ4_NL against q8_0 / q8_1 codes; Q2_K, Q3_K, Q5_K
// against q8_K), as ggml_vec_dot_<type>_q8_<x> defines them: integer sums per
// block or 16-element group, then one float multiply per block.
#include "core/kernels_int_blocks.h"
#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/quantized_activations.h"

namespace kvforge::core::ref {

// d * dx * sum(q * xq) + m * dx * sum(xq): the offset m meets the sum of the
// activation codes, which q8_1 carries (ggml's block s; here the q8_0 codes'
// sum, with the fp16 rounding of s added by the caller as llama.cpp has it).
float dot_unpacked32_q8(TensorType type, const uint8_t* w, const BlockQ8_0x* x, size_t nb) {
  const size_t bytes = static_cast<size_t>(tensor_type_block_bytes(type));
  float sum = 0.0f;
  IntBlock32 b;
  for (size_t i = 0; i < nb; ++i, w += bytes) {
    unpack_block32(type, w, &b);
    int isum = 0, xsum = 0;
    for (int j = 0; j < 32; ++j) {
      isum += b.q[j] * x[i].qs[j];
      xsum += x[i].qs[j];
    }
    const float dx = fp16_to_f32(x[i].d);
    sum += b.d * dx * static_cast<float>(isum) + b.m * dx * static_cast<float>(xsum);
  }
  return sum;
}

// d * dx * sum_g scale_g * (q . xq)_g - dmin * dx * sum_g min_g * bsum_g.
float dot_unpacked256_q8(TensorType type, const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  const size_t bytes = static_cast<size_t>(tensor_type_block_bytes(type));
  float sum = 0.0f;
  IntBlock256 b;
  for (size_t i = 0; i < nb; ++i, w += bytes) {
    unpack_block256(type, w, &b);
    int isum = 0, imin = 0;
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += b.q[16 * g + l] * x[i].qs[16 * g + l];
      isum += b.scale[g] * s;
      imin += b.min[g] * x[i].bsums[g];
    }
    sum += b.d * x[i].d * static_cast<float>(isum) - b.dmin * x[i].d * static_cast<float>(imin);
  }
  return sum;
}

}  // namespace kvforge::core::ref

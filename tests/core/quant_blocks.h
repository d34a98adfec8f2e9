// Test helpers for the GGML block types: random blocks with sane fp16 scales
// (there is no reference quantizer for most types), and the dot-product
// tolerance the fast kernels are held to. Shared by the core tests and the
// blocks fuzz target.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/tensor_type.h"

namespace kvforge::core::qtest {

// n floats uniform in [-scale, scale], reproducible by seed.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& f : v) f = dist(rng);
  return v;
}

// Byte offsets of a block's fp16 fields: `scale` (d) and, for types that
// subtract or add an offset, `min` (m / dmin); -1 where absent.
struct HalfFields {
  int scale = -1;
  int min = -1;
};

inline HalfFields half_fields(TensorType type) {
  switch (type) {
    case TensorType::kQ4_0:
    case TensorType::kQ5_0:
    case TensorType::kQ8_0:
    case TensorType::kIQ4_NL: return {0, -1};
    case TensorType::kQ4_1:
    case TensorType::kQ5_1:
    case TensorType::kQ4_K:
    case TensorType::kQ5_K: return {0, 2};
    case TensorType::kQ2_K: return {80, 82};
    case TensorType::kQ3_K: return {108, -1};
    case TensorType::kQ6_K: return {208, -1};
    default: return {};
  }
}

inline bool is_block_type(TensorType type) { return tensor_type_block_elems(type) > 1; }

// n_blocks random blocks of a block type: random quant and sub-scale bytes,
// fp16 scales of magnitude 1e-3..2e-2 (random sign where GGML allows one) and
// mins of either sign, so values stay O(1) like real weights.
inline std::vector<uint8_t> random_blocks(TensorType type, size_t n_blocks, uint32_t seed) {
  const size_t bytes = static_cast<size_t>(tensor_type_block_bytes(type));
  std::vector<uint8_t> out(n_blocks * bytes);
  std::mt19937 rng(seed);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> mag(1e-3f, 2e-2f);
  const HalfFields f = half_fields(type);
  for (size_t b = 0; b < n_blocks; ++b) {
    uint8_t* blk = out.data() + b * bytes;
    const bool signed_scale = f.min < 0;  // min types keep d >= 0, as GGML's quantizers do
    const float d = mag(rng) * (signed_scale && (rng() & 1) ? -1.0f : 1.0f);
    const uint16_t dh = f32_to_fp16(d);
    std::memcpy(blk + f.scale, &dh, 2);
    if (f.min >= 0) {
      // Q4_1/Q5_1 add m (any sign); the K-quants subtract dmin * m (dmin >= 0).
      const bool k_quant = tensor_type_block_elems(type) == 256;
      const float m = k_quant ? mag(rng) : 8.0f * mag(rng) * ((rng() & 1) ? -1.0f : 1.0f);
      const uint16_t mh = f32_to_fp16(m);
      std::memcpy(blk + f.min, &mh, 2);
    }
  }
  return out;
}

// |offset| that element i of a row decodes with: the fp16 m of Q4_1/Q5_1, the
// sub-block dmin * min of Q2_K/Q4_K/Q5_K, else 0. The fast dots factor it out
// (d * sum(q x) - m * sum(x)), so their rounding scales with it.
inline double element_offset(TensorType type, const uint8_t* row, size_t i) {
  const HalfFields f = half_fields(type);
  if (f.min < 0) return 0.0;
  const size_t block = static_cast<size_t>(tensor_type_block_elems(type));
  const uint8_t* blk = row + i / block * static_cast<size_t>(tensor_type_block_bytes(type));
  const size_t e = i % block;
  uint16_t h;
  std::memcpy(&h, blk + f.min, 2);
  const double m = std::fabs(static_cast<double>(fp16_to_f32(h)));
  if (block == 32) return m;
  if (type == TensorType::kQ2_K) return m * (blk[e / 16] >> 4);
  uint8_t sc, mn;
  ref::q4_k_scale_min(static_cast<int>(e / 32), blk + 4, &sc, &mn);
  return m * mn;
}

// Sum over i of (|w_i| + |offset_i|) |x_i|: bounds the rounding error of any
// summation order of either the dequantized or the factored dot.
inline double dot_magnitude(TensorType type, const void* row, const float* x, size_t n) {
  std::vector<float> w(n);
  ref::dequantize_row(type, row, w.data(), n);
  const auto* p = static_cast<const uint8_t*>(row);
  double mag = 0;
  for (size_t i = 0; i < n; ++i) {
    mag += (std::fabs(static_cast<double>(w[i])) + element_offset(type, p, i)) * std::fabs(static_cast<double>(x[i]));
  }
  return mag;
}

// Fast vs reference dot: 2e-6 of the magnitude (about 30 float ulps of it; the
// error of summing a few thousand terms in a different order) plus 1e-6.
inline double dot_tolerance(TensorType type, const void* row, const float* x, size_t n) {
  return 2e-6 * dot_magnitude(type, row, x, n) + 1e-6;
}

}  // namespace kvforge::core::qtest

// The quantization formats on hand-built blocks (known values, the Q4_K scale
// packing) and the quantize/dequantize round-trip error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/kernels_ref.h"
#include "core/quant_blocks.h"
#include "kvforge/core/half.h"
#include "kvforge/core/kernels.h"

namespace kvforge::core {
namespace {

using qtest::random_floats;

TEST(Quant, Q8_0KnownBlock) {
  uint8_t blk[34];
  const uint16_t d = 0x3800;  // 0.5
  std::memcpy(blk, &d, 2);
  for (int j = 0; j < 32; ++j) blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128));
  float out[32], ref_out[32];
  dequantize_row(TensorType::kQ8_0, blk, out, 32);
  ref::dequantize_row(TensorType::kQ8_0, blk, ref_out, 32);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(out[j], 0.5f * static_cast<float>(j * 8 - 128));
    EXPECT_EQ(ref_out[j], out[j]);
  }
}

TEST(Quant, Q4_0KnownBlock) {
  uint8_t blk[18];
  const uint16_t d = 0x4000;  // 2.0
  std::memcpy(blk, &d, 2);
  for (int j = 0; j < 16; ++j) blk[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float out[32], ref_out[32];
  dequantize_row(TensorType::kQ4_0, blk, out, 32);
  ref::dequantize_row(TensorType::kQ4_0, blk, ref_out, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], 2.0f * static_cast<float>(j - 8));
    EXPECT_EQ(out[j + 16], 2.0f * static_cast<float>(7 - j));
  }
  for (int j = 0; j < 32; ++j) EXPECT_EQ(ref_out[j], out[j]);
}

// Packs 8 (scale, min) 6-bit pairs the way GGML's Q4_K quantizer does; written
// independently of the unpacking code under test.
void pack_q4_k_scales(const int* sc, const int* mn, uint8_t* out) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      out[j] = static_cast<uint8_t>(sc[j]);
      out[j + 4] = static_cast<uint8_t>(mn[j]);
    } else {
      out[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
      out[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      out[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}

TEST(Quant, Q4_KKnownBlock) {
  const int sc[8] = {1, 8, 15, 22, 63, 36, 43, 50};
  const int mn[8] = {63, 58, 53, 48, 17, 38, 0, 28};
  uint8_t blk[144];
  const uint16_t d = 0x3C00, dmin = 0x3800;  // 1.0, 0.5
  std::memcpy(blk, &d, 2);
  std::memcpy(blk + 2, &dmin, 2);
  pack_q4_k_scales(sc, mn, blk + 4);
  for (int i = 0; i < 128; ++i) blk[16 + i] = static_cast<uint8_t>((i * 7 + 3) & 0xFF);
  for (int j = 0; j < 8; ++j) {
    uint8_t s, m;
    ref::q4_k_scale_min(j, blk + 4, &s, &m);
    EXPECT_EQ(s, sc[j]) << j;
    EXPECT_EQ(m, mn[j]) << j;
  }
  float out[256], ref_out[256];
  dequantize_row(TensorType::kQ4_K, blk, out, 256);
  ref::dequantize_row(TensorType::kQ4_K, blk, ref_out, 256);
  for (int e = 0; e < 256; ++e) {
    const int chunk = e / 64, within = e % 64, l = within % 32;
    const int sub = 2 * chunk + (within >= 32 ? 1 : 0);
    const uint8_t byte = blk[16 + chunk * 32 + l];
    const int q = within < 32 ? (byte & 0xF) : (byte >> 4);
    const float expect = 1.0f * static_cast<float>(sc[sub] * q) - 0.5f * static_cast<float>(mn[sub]);
    EXPECT_EQ(ref_out[e], expect) << e;
    EXPECT_EQ(out[e], expect) << e;
  }
}

TEST(Quant, RoundTripErrorBounded) {
  const size_t n = 1024;
  const auto x = random_floats(n, 77, 3.0f);
  std::vector<uint8_t> q8(n / 32 * 34), q4(n / 32 * 18);
  ref::quantize_row_q8_0(x.data(), q8.data(), n);
  ref::quantize_row_q4_0(x.data(), q4.data(), n);
  std::vector<float> y8(n), y4(n);
  dequantize_row(TensorType::kQ8_0, q8.data(), y8.data(), n);
  dequantize_row(TensorType::kQ4_0, q4.data(), y4.data(), n);
  for (size_t b = 0; b < n / 32; ++b) {
    uint16_t h8, h4;
    std::memcpy(&h8, q8.data() + b * 34, 2);
    std::memcpy(&h4, q4.data() + b * 18, 2);
    const float d8 = std::fabs(fp16_to_f32(h8)), d4 = std::fabs(fp16_to_f32(h4));
    for (size_t j = 0; j < 32; ++j) {
      const size_t i = b * 32 + j;
      ASSERT_LE(std::fabs(y8[i] - x[i]), 0.5f * d8 * 1.01f + 1e-3f * std::fabs(x[i])) << i;
      ASSERT_LE(std::fabs(y4[i] - x[i]), d4 * 1.01f + 1e-3f * std::fabs(x[i])) << i;
    }
  }
  // All-zero blocks quantize to d = 0 and dequantize to zeros.
  std::vector<float> zeros(32, 0.0f), back(32, 1.0f);
  uint8_t blk[34];
  ref::quantize_row_q8_0(zeros.data(), blk, 32);
  dequantize_row(TensorType::kQ8_0, blk, back.data(), 32);
  for (float v : back) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace kvforge::core

#include "kvforge/core/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace kvforge::core {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(Half, KnownFp16Values) {
  EXPECT_EQ(fp16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(fp16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp16_to_f32(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(fp16_to_f32(0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(bits(fp16_to_f32(0x8000)), 0x80000000u);
  EXPECT_EQ(fp16_to_f32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp16_to_f32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp16_to_f32(0x7E00)));
  EXPECT_TRUE(std::isnan(fp16_to_f32(0x7C01)));
}

TEST(Half, Fp16RoundingEdges) {
  EXPECT_EQ(f32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie -> even
  EXPECT_EQ(f32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(f32_to_fp16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), 0x3C01);
  EXPECT_EQ(f32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_fp16(65519.99f), 0x7BFF);
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7C00);
  EXPECT_EQ(f32_to_fp16(1e10f), 0x7C00);
  EXPECT_EQ(f32_to_fp16(-1e10f), 0xFC00);
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (zero)
  EXPECT_EQ(f32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp tie -> even
  EXPECT_EQ(f32_to_fp16(std::ldexp(1023.5f, -24)), 0x0400);  // rounds up into the min normal
  EXPECT_EQ(f32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_fp16(1e-30f), 0x0000);
  EXPECT_EQ(f32_to_fp16(std::numeric_limits<float>::infinity()), 0x7C00);
  const uint16_t nan = f32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  // A signalling NaN whose payload lives only in the low bits must stay NaN.
  EXPECT_NE(f32_to_fp16(from_bits(0x7F800001u)) & 0x03FF, 0);
}

TEST(Half, Fp16AllValuesRoundTrip) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> row(65536);
  fp16_to_f32_row(all.data(), row.data(), all.size());
  for (uint32_t i = 0; i < 65536; ++i) {
    const float f = fp16_to_f32(static_cast<uint16_t>(i));
    if ((i & 0x7C00) == 0x7C00 && (i & 0x3FF) != 0) {
      ASSERT_TRUE(std::isnan(f)) << i;
      ASSERT_TRUE(std::isnan(row[i])) << i;
      continue;
    }
    ASSERT_EQ(bits(row[i]), bits(f)) << i;
    ASSERT_EQ(f32_to_fp16(f), i) << i;
  }
}

TEST(Half, Fp16RowMatchesScalarOnRandomBits) {
  std::mt19937 rng(7);
  const size_t n = 200003;  // odd: exercises the scalar tail
  std::vector<float> src(n);
  for (auto& f : src) {
    // Mostly values near fp16's range, some arbitrary bit patterns.
    f = (rng() % 4 == 0) ? from_bits(rng()) : std::ldexp(static_cast<float>(rng()) / 4294967296.0f - 0.5f,
                                                          static_cast<int>(rng() % 50) - 30);
  }
  std::vector<uint16_t> row(n);
  f32_to_fp16_row(src.data(), row.data(), n);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(row[i], f32_to_fp16(src[i])) << i << " bits " << bits(src[i]);
  std::vector<float> back(n);
  fp16_to_f32_row(row.data(), back.data(), 0);  // n = 0 is a no-op
  fp16_to_f32_row(row.data(), back.data(), 5);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(bits(back[i]), bits(fp16_to_f32(row[i])));
}

TEST(Half, Bf16) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xC040), -3.0f);
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F818000u)), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7FFFFFu)), 0x7F80);  // max float rounds to inf
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00000001u)), 0x0000);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(from_bits(0x7F800001u)))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  for (uint32_t i = 0; i < 65536; ++i) {
    const float f = bf16_to_f32(static_cast<uint16_t>(i));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), i);
  }
  std::vector<float> src = {1.0f, -2.5f, 3.14159f, 1e-20f, 7.0f};
  std::vector<uint16_t> h(src.size());
  std::vector<float> back(src.size());
  f32_to_bf16_row(src.data(), h.data(), src.size());
  bf16_to_f32_row(h.data(), back.data(), src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    EXPECT_EQ(h[i], f32_to_bf16(src[i]));
    EXPECT_NEAR(back[i], src[i], std::fabs(src[i]) / 128);
  }
}

}  // namespace
}  // namespace kvforge::core

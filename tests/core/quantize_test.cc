#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kvforge/core/kernels.h"

namespace kvforge::core {
namespace {

TEST(QuantizeRow, RoundTripsWithinEachFormatsStep) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  const size_t n = 256;
  std::vector<float> x(n), back(n);
  for (auto& v : x) v = u(rng);
  struct Case {
    TensorType type;
    double tol;  // max abs error for |x| <= 2
  };
  for (const Case& c : {Case{TensorType::kF32, 0.0}, Case{TensorType::kF16, 2e-3}, Case{TensorType::kBF16, 1.6e-2},
                        Case{TensorType::kQ8_0, 2.0 / 127}, Case{TensorType::kQ4_0, 2.0 / 8 * 1.01}}) {
    std::vector<uint8_t> row(*tensor_row_bytes(c.type, n));
    ASSERT_TRUE(quantize_row(c.type, x.data(), row.data(), n).ok());
    dequantize_row(c.type, row.data(), back.data(), n);
    double err = 0;
    for (size_t i = 0; i < n; ++i) err = std::max(err, std::fabs(double(back[i]) - x[i]));
    EXPECT_LE(err, c.tol) << tensor_type_name(c.type);
  }
}

TEST(QuantizeRow, RejectsPartialBlocksAndUnsupportedTargets) {
  std::vector<float> x(40, 1.0f);
  std::vector<uint8_t> out(4096);
  Status s = quantize_row(TensorType::kQ8_0, x.data(), out.data(), 40);
  EXPECT_TRUE(s.is_invalid_argument());
  EXPECT_NE(s.message().find("Q8_0"), std::string::npos);
  std::vector<float> big(256, 1.0f);
  EXPECT_TRUE(quantize_row(TensorType::kQ4_K, big.data(), out.data(), 256).is_not_supported());
}

}  // namespace
}  // namespace kvforge::core

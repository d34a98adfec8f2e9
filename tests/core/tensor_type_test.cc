#include "kvforge/core/tensor_type.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace kvforge::core {
namespace {

TEST(TensorType, RowBytesFollowBlockLayouts) {
  EXPECT_EQ(*tensor_row_bytes(TensorType::kF32, 172), 688u);
  EXPECT_EQ(*tensor_row_bytes(TensorType::kF16, 64), 128u);
  EXPECT_EQ(*tensor_row_bytes(TensorType::kQ8_0, 64), 68u);
  EXPECT_EQ(*tensor_row_bytes(TensorType::kQ4_0, 64), 36u);
  EXPECT_EQ(*tensor_row_bytes(TensorType::kQ4_K, 512), 288u);
}

TEST(TensorType, RowBytesRejectPartialBlocksAndOverflow) {
  auto r = tensor_row_bytes(TensorType::kQ8_0, 172);  // ffn_down rows of stories260K
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Q8_0 block size 32"), std::string::npos);
  EXPECT_FALSE(tensor_row_bytes(TensorType::kF32, 0).ok());
  EXPECT_FALSE(tensor_row_bytes(TensorType::kF32, -4).ok());
  // Regression (found by the GGUF fuzzer): a huge column count overflowed int64.
  EXPECT_FALSE(tensor_row_bytes(TensorType::kF32, INT64_MAX - 7).ok());
  EXPECT_FALSE(tensor_row_bytes(TensorType::kQ4_K, (INT64_MAX / 256) * 256).ok());
}

TEST(TensorType, UnknownGgmlTypesAreNamed) {
  auto t = tensor_type_from_ggml(7);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().is_not_supported());
  EXPECT_NE(t.status().message().find("Q5_1"), std::string::npos);
  auto u = tensor_type_from_ggml(999);
  EXPECT_NE(u.status().message().find("999"), std::string::npos);
  EXPECT_EQ(*tensor_type_from_ggml(30), TensorType::kBF16);
}

}  // namespace
}  // namespace kvforge::core

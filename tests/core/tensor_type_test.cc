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

TEST(TensorType, EveryLlamaQuantizePresetTypeMaps) {
  struct Case {
    uint32_t ggml;
    TensorType type;
    const char* name;
    int64_t block_elems, block_bytes;
  };
  // Numbers, names and block sizes from GGML (ggml.h, ggml-common.h).
  const Case cases[] = {
      {0, TensorType::kF32, "F32", 1, 4},          {1, TensorType::kF16, "F16", 1, 2},
      {2, TensorType::kQ4_0, "Q4_0", 32, 18},      {3, TensorType::kQ4_1, "Q4_1", 32, 20},
      {6, TensorType::kQ5_0, "Q5_0", 32, 22},      {7, TensorType::kQ5_1, "Q5_1", 32, 24},
      {8, TensorType::kQ8_0, "Q8_0", 32, 34},      {10, TensorType::kQ2_K, "Q2_K", 256, 84},
      {11, TensorType::kQ3_K, "Q3_K", 256, 110},   {12, TensorType::kQ4_K, "Q4_K", 256, 144},
      {13, TensorType::kQ5_K, "Q5_K", 256, 176},   {14, TensorType::kQ6_K, "Q6_K", 256, 210},
      {20, TensorType::kIQ4_NL, "IQ4_NL", 32, 18}, {30, TensorType::kBF16, "BF16", 1, 2},
  };
  for (const Case& c : cases) {
    auto t = tensor_type_from_ggml(c.ggml);
    ASSERT_TRUE(t.ok()) << c.name << ": " << t.status().message();
    EXPECT_EQ(*t, c.type);
    EXPECT_EQ(static_cast<uint32_t>(c.type), c.ggml);
    EXPECT_EQ(tensor_type_name(c.type), c.name);
    EXPECT_EQ(tensor_type_block_elems(c.type), c.block_elems) << c.name;
    EXPECT_EQ(tensor_type_block_bytes(c.type), c.block_bytes) << c.name;
    // A 4096-wide row: 4096 / block_elems blocks.
    EXPECT_EQ(*tensor_row_bytes(c.type, 4096), static_cast<size_t>(4096 / c.block_elems * c.block_bytes)) << c.name;
  }
  EXPECT_EQ(*tensor_row_bytes(TensorType::kQ6_K, 512), 420u);
  EXPECT_EQ(*tensor_row_bytes(TensorType::kQ5_1, 96), 72u);
  EXPECT_FALSE(tensor_row_bytes(TensorType::kQ2_K, 288).ok());
  EXPECT_FALSE(tensor_row_bytes(TensorType::kIQ4_NL, 48).ok());
}

TEST(TensorType, UnknownGgmlTypesAreNamed) {
  auto t = tensor_type_from_ggml(16);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().is_not_supported());
  EXPECT_NE(t.status().message().find("IQ2_XXS (type 16)"), std::string::npos) << t.status().message();
  // The message lists what is supported, new types included.
  EXPECT_NE(t.status().message().find("Q6_K"), std::string::npos);
  EXPECT_NE(t.status().message().find("IQ4_NL"), std::string::npos);
  auto u = tensor_type_from_ggml(999);
  ASSERT_FALSE(u.ok());
  EXPECT_TRUE(u.status().is_not_supported());
  EXPECT_NE(u.status().message().find("999"), std::string::npos);
  auto v = tensor_type_from_ggml(99);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("99"), std::string::npos);
  for (uint32_t raw : {4u, 5u, 9u, 15u, 23u}) {  // removed Q4_2/Q4_3, Q8_1, Q8_K, IQ4_XS
    EXPECT_TRUE(tensor_type_from_ggml(raw).status().is_not_supported()) << raw;
  }
  EXPECT_EQ(*tensor_type_from_ggml(30), TensorType::kBF16);
}

}  // namespace
}  // namespace kvforge::core

// Element types of weight tensors, numbered as GGML numbers them so that a
// GGUF tensor-info type field maps to this enum unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kvforge/core/status.h"

namespace kvforge::core {

enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kIQ4_NL = 20,
  kBF16 = 30,
};

// GGML's spelling: "F32", "Q4_1", "Q6_K", "IQ4_NL", ...
std::string_view tensor_type_name(TensorType type);

// The type for a raw GGML type number, or NotSupported naming the number
// (and its GGML name where known, e.g. "Q5_1 (type 7)").
Result<TensorType> tensor_type_from_ggml(uint32_t raw);

// Elements per block: 1 for F32/F16/BF16, 32 for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/IQ4_NL,
// 256 for the K-quants (Q2_K..Q6_K).
int64_t tensor_type_block_elems(TensorType type);
// Bytes per block.
int64_t tensor_type_block_bytes(TensorType type);

// Bytes of one row of `n_cols` elements; InvalidArgument when n_cols is not a
// multiple of the block size or is not positive.
Result<size_t> tensor_row_bytes(TensorType type, int64_t n_cols);

}  // namespace kvforge::core

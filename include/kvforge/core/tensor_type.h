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
  kQ8_0 = 8,
  kQ4_K = 12,
  kBF16 = 30,
};

// "F32", "F16", "Q4_0", "Q8_0", "Q4_K", "BF16".
std::string_view tensor_type_name(TensorType type);

// The type for a raw GGML type number, or NotSupported naming the number
// (and its GGML name where known, e.g. "Q5_1 (type 7)").
Result<TensorType> tensor_type_from_ggml(uint32_t raw);

// Elements per block (1 for F32/F16/BF16, 32 for Q4_0/Q8_0, 256 for Q4_K).
int64_t tensor_type_block_elems(TensorType type);
// Bytes per block.
int64_t tensor_type_block_bytes(TensorType type);

// Bytes of one row of `n_cols` elements; InvalidArgument when n_cols is not a
// multiple of the block size or is not positive.
Result<size_t> tensor_row_bytes(TensorType type, int64_t n_cols);

}  // namespace kvforge::core

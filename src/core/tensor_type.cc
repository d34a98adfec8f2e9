#include "kvforge/core/tensor_type.h"

#include <string>

namespace kvforge::core {

std::string_view tensor_type_name(TensorType type) {
  switch (type) {
    case TensorType::kF32: return "F32";
    case TensorType::kF16: return "F16";
    case TensorType::kQ4_0: return "Q4_0";
    case TensorType::kQ4_1: return "Q4_1";
    case TensorType::kQ5_0: return "Q5_0";
    case TensorType::kQ5_1: return "Q5_1";
    case TensorType::kQ8_0: return "Q8_0";
    case TensorType::kQ2_K: return "Q2_K";
    case TensorType::kQ3_K: return "Q3_K";
    case TensorType::kQ4_K: return "Q4_K";
    case TensorType::kQ5_K: return "Q5_K";
    case TensorType::kQ6_K: return "Q6_K";
    case TensorType::kIQ4_NL: return "IQ4_NL";
    case TensorType::kBF16: return "BF16";
  }
  return "?";
}

namespace {
// GGML's numbering, so an unsupported type can be named in the error.
const char* ggml_type_name(uint32_t raw) {
  static const char* const kNames[] = {"F32",  "F16",  "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0",
                                       "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                                       "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
                                       "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32",
                                       "I64", "F64", "IQ1_M", "BF16"};
  return raw < sizeof(kNames) / sizeof(kNames[0]) ? kNames[raw] : nullptr;
}
}  // namespace

Result<TensorType> tensor_type_from_ggml(uint32_t raw) {
  switch (raw) {
    case 0: return TensorType::kF32;
    case 1: return TensorType::kF16;
    case 2: return TensorType::kQ4_0;
    case 3: return TensorType::kQ4_1;
    case 6: return TensorType::kQ5_0;
    case 7: return TensorType::kQ5_1;
    case 8: return TensorType::kQ8_0;
    case 10: return TensorType::kQ2_K;
    case 11: return TensorType::kQ3_K;
    case 12: return TensorType::kQ4_K;
    case 13: return TensorType::kQ5_K;
    case 14: return TensorType::kQ6_K;
    case 20: return TensorType::kIQ4_NL;
    case 30: return TensorType::kBF16;
    default: break;
  }
  const char* name = ggml_type_name(raw);
  std::string msg = "unsupported tensor type ";
  msg += name ? std::string(name) + " (type " + std::to_string(raw) + ")"
              : "number " + std::to_string(raw) + " (unknown to GGML)";
  msg += "; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL";
  return Status::NotSupported(msg);
}

int64_t tensor_type_block_elems(TensorType type) {
  switch (type) {
    case TensorType::kQ4_0:
    case TensorType::kQ4_1:
    case TensorType::kQ5_0:
    case TensorType::kQ5_1:
    case TensorType::kQ8_0:
    case TensorType::kIQ4_NL: return 32;
    case TensorType::kQ2_K:
    case TensorType::kQ3_K:
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K: return 256;
    default: return 1;
  }
}

// Sums follow the field lists of GGML's block structs (ggml-common.h).
int64_t tensor_type_block_bytes(TensorType type) {
  switch (type) {
    case TensorType::kF32: return 4;
    case TensorType::kF16:
    case TensorType::kBF16: return 2;
    case TensorType::kQ4_0: return 2 + 16;
    case TensorType::kQ4_1: return 2 + 2 + 16;
    case TensorType::kQ5_0: return 2 + 4 + 16;
    case TensorType::kQ5_1: return 2 + 2 + 4 + 16;
    case TensorType::kQ8_0: return 2 + 32;
    case TensorType::kQ2_K: return 16 + 64 + 2 + 2;
    case TensorType::kQ3_K: return 32 + 64 + 12 + 2;
    case TensorType::kQ4_K: return 2 + 2 + 12 + 128;
    case TensorType::kQ5_K: return 2 + 2 + 12 + 32 + 128;
    case TensorType::kQ6_K: return 128 + 64 + 16 + 2;
    case TensorType::kIQ4_NL: return 2 + 16;
  }
  return 0;
}

Result<size_t> tensor_row_bytes(TensorType type, int64_t n_cols) {
  const int64_t block = tensor_type_block_elems(type);
  if (n_cols <= 0 || n_cols % block != 0) {
    return Status::InvalidArgument("row of " + std::to_string(n_cols) + " elements is not a positive multiple of the " +
                                   std::string(tensor_type_name(type)) + " block size " + std::to_string(block));
  }
  // Sizes come from files: refuse rows whose byte count would overflow.
  const int64_t blocks = n_cols / block;
  if (blocks > (int64_t{1} << 40) / tensor_type_block_bytes(type)) {
    return Status::InvalidArgument("row of " + std::to_string(n_cols) + " elements is absurdly long");
  }
  return static_cast<size_t>(blocks * tensor_type_block_bytes(type));
}

}  // namespace kvforge::core

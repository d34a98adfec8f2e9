#include <cstring>
#include <string>

#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/kernels.h"

namespace kvforge::core {

Status quantize_row(TensorType type, const float* x, void* out, size_t n) {
  if (n % static_cast<size_t>(tensor_type_block_elems(type)) != 0) {
    return Status::InvalidArgument(std::to_string(n) + " values do not fill whole " +
                                   std::string(tensor_type_name(type)) + " blocks");
  }
  switch (type) {
    case TensorType::kF32: std::memcpy(out, x, n * sizeof(float)); return Status::OK();
    case TensorType::kF16: f32_to_fp16_row(x, static_cast<uint16_t*>(out), n); return Status::OK();
    case TensorType::kBF16: f32_to_bf16_row(x, static_cast<uint16_t*>(out), n); return Status::OK();
    case TensorType::kQ8_0: ref::quantize_row_q8_0(x, out, n); return Status::OK();
    case TensorType::kQ4_0: ref::quantize_row_q4_0(x, out, n); return Status::OK();
    default: break;
  }
  // The other block types are read (dequantized) but never written: their
  // scale searches are out of scope.
  return Status::NotSupported("kvforge reads " + std::string(tensor_type_name(type)) + " but does not quantize to it");
}

}  // namespace kvforge::core

// libFuzzer target: the row kernels of every tensor type over arbitrary block
// bytes. Input: byte 0 picks the type, byte 1 seeds the activations, the rest
// is the row; only the whole blocks that fit are decoded (the API takes whole
// blocks), copied into an exactly-sized heap buffer so ASan sees any read past
// the row. On every SIMD target the CPU runs, dequantize_row must equal the
// scalar reference bit for bit (NaNs compare as NaNs) and, where the values
// are finite, dot_row must agree with the reference's dot within the worst-case
// rounding bound of reordered float sums.
#include <hwy/targets.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/kernels_ref.h"
#include "core/quant_blocks.h"
#include "kvforge/core/kernels.h"
#include "kvforge/core/status.h"

namespace {
using kvforge::core::TensorType;

const TensorType kTypes[] = {TensorType::kF32,  TensorType::kF16,  TensorType::kBF16, TensorType::kQ8_0,
                             TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ5_0, TensorType::kQ5_1,
                             TensorType::kIQ4_NL, TensorType::kQ2_K, TensorType::kQ3_K, TensorType::kQ4_K,
                             TensorType::kQ5_K, TensorType::kQ6_K};

// Keeps each run fast and the summation bound below meaningful.
constexpr size_t kMaxElems = 4096;

bool same_bits_or_both_nan(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof(float)) == 0;
}

void check_row(TensorType type, const uint8_t* row, const float* x, size_t n) {
  namespace core = kvforge::core;
  std::vector<float> slow(n), fast(n);
  core::ref::dequantize_row(type, row, slow.data(), n);
  core::dequantize_row(type, row, fast.data(), n);
  bool finite = true;
  for (size_t i = 0; i < n; ++i) {
    KVF_CHECK(same_bits_or_both_nan(slow[i], fast[i]));
    finite = finite && std::isfinite(slow[i]);
  }
  const float simd_dot = core::dot_row(type, row, x, n);
  if (!finite) return;
  const double mag = core::qtest::dot_magnitude(type, row, x, n);
  if (!(mag < 1e30)) return;  // products near float overflow: no closeness to expect
  const float ref_dot = core::ref::dot_row(type, row, x, n);
  // Any order of summing n terms errs by at most about n ulps of the magnitude.
  const double tol = 2.0 * static_cast<double>(n + 64) * std::ldexp(1.0, -24) * mag + 1e-30;
  KVF_CHECK(std::fabs(static_cast<double>(simd_dot) - ref_dot) <= tol);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace core = kvforge::core;
  if (size < 2) return 0;
  const TensorType type = kTypes[data[0] % (sizeof(kTypes) / sizeof(kTypes[0]))];
  const size_t block_elems = static_cast<size_t>(core::tensor_type_block_elems(type));
  const size_t block_bytes = static_cast<size_t>(core::tensor_type_block_bytes(type));
  const size_t blocks = std::min((size - 2) / block_bytes, kMaxElems / block_elems);
  const size_t n = blocks * block_elems;
  std::vector<uint8_t> row(data + 2, data + 2 + blocks * block_bytes);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<int>((i * 37 + data[1]) % 201) - 100) / 64.0f;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    // An empty row is valid (n = 0, and the row may be null).
    check_row(type, n == 0 ? nullptr : row.data(), x.data(), n);
  }
  hwy::SetSupportedTargetsForTest(0);
  return 0;
}

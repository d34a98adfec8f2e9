#include "kvforge/core/activation_rounding.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/status.h"

namespace kvforge::core {

namespace ref {

// q8_0 / q8_1 as ggml's x86 quantizer computes them: scale amax/127 stored as
// fp16, codes round-half-even(x * 127/amax). (q8_1 adds a block sum that only
// enters products through the weight's minimum; its codes are the same.)
void round_q8_0(const float* x, float* out, size_t n) {
  for (size_t b = 0; b < n; b += 32) {
    float amax = 0.0f;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    const float d = fp16_to_f32(f32_to_fp16(amax / 127.0f));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (size_t j = 0; j < 32; ++j) out[b + j] = d * std::nearbyint(x[b + j] * id);
  }
}

// q8_K: the signed value of largest magnitude maps to -127; the scale stays a
// float; codes are capped at 127.
void round_q8_k(const float* x, float* out, size_t n) {
  for (size_t b = 0; b < n; b += 256) {
    float amax = 0.0f, max = 0.0f;
    for (size_t j = 0; j < 256; ++j) {
      const float ax = std::fabs(x[b + j]);
      if (ax > amax) {
        amax = ax;
        max = x[b + j];
      }
    }
    if (amax == 0.0f) {
      std::fill(out + b, out + b + 256, 0.0f);
      continue;
    }
    const float iscale = -127.0f / max;
    const float d = 1.0f / iscale;
    for (size_t j = 0; j < 256; ++j) {
      const float q = std::min(127.0f, std::nearbyint(iscale * x[b + j]));
      out[b + j] = d * q;
    }
  }
}

}  // namespace ref

ActivationType activation_type_for(TensorType weight) {
  switch (weight) {
    case TensorType::kF32: return ActivationType::kF32;
    case TensorType::kF16: return ActivationType::kF16;
    case TensorType::kBF16: return ActivationType::kBF16;
    case TensorType::kQ4_1:
    case TensorType::kQ5_1: return ActivationType::kQ8_1;
    case TensorType::kQ2_K:
    case TensorType::kQ3_K:
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K: return ActivationType::kQ8_K;
    default: return ActivationType::kQ8_0;  // Q4_0, Q5_0, Q8_0, IQ4_NL
  }
}

std::string_view activation_type_name(ActivationType type) {
  switch (type) {
    case ActivationType::kF32: return "f32";
    case ActivationType::kF16: return "f16";
    case ActivationType::kBF16: return "bf16";
    case ActivationType::kQ8_0: return "q8_0";
    case ActivationType::kQ8_1: return "q8_1";
    case ActivationType::kQ8_K: return "q8_K";
  }
  return "?";
}

void round_activations(ActivationType type, const float* x, float* out, size_t n) {
  switch (type) {
    case ActivationType::kF32:
      if (out != x) std::memmove(out, x, n * sizeof(float));
      return;
    case ActivationType::kF16: {
      // Through the SIMD row converters (same rounding as f32_to_fp16), a
      // stack-sized chunk at a time: prefill rounds whole token batches.
      uint16_t half[1024];
      for (size_t i = 0; i < n; i += 1024) {
        const size_t m = std::min<size_t>(1024, n - i);
        f32_to_fp16_row(x + i, half, m);
        fp16_to_f32_row(half, out + i, m);
      }
      return;
    }
    case ActivationType::kBF16:
      for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(f32_to_bf16(x[i]));
      return;
    case ActivationType::kQ8_0:
    case ActivationType::kQ8_1:
      KVF_CHECK(n % 32 == 0);
      round_q8_0_rows(x, out, n);
      return;
    case ActivationType::kQ8_K:
      KVF_CHECK(n % 256 == 0);
      round_q8_k_rows(x, out, n);
      return;
  }
}

void q8_1_sum_residuals(const float* x, float* residual, size_t n) {
  KVF_CHECK(n % 32 == 0);
  for (size_t b = 0; b < n / 32; ++b) {
    const float* v = x + b * 32;
    float amax = 0.0f;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    float sum_q = 0.0f;
    for (size_t j = 0; j < 32; ++j) sum_q += std::nearbyint(v[j] * id);
    const float s = fp16_to_f32(f32_to_fp16(d * sum_q));
    residual[b] = s - fp16_to_f32(f32_to_fp16(d)) * sum_q;
  }
}

void add_block_min_residuals(TensorType type, const void* w, size_t rows, size_t cols, const float* residual,
                             size_t n_tokens, float* y) {
  KVF_CHECK(type == TensorType::kQ4_1 || type == TensorType::kQ5_1);
  const size_t block_bytes = static_cast<size_t>(tensor_type_block_bytes(type));
  const size_t blocks = cols / 32, row_bytes = blocks * block_bytes;
  const auto* base = static_cast<const uint8_t*>(w);
  for (size_t r = 0; r < rows; ++r) {
    const uint8_t* row = base + r * row_bytes;
    for (size_t t = 0; t < n_tokens; ++t) {
      const float* e = residual + t * blocks;
      float sum = 0.0f;
      for (size_t b = 0; b < blocks; ++b) {
        uint16_t m;  // both layouts start with the fp16 scale, then the fp16 minimum
        std::memcpy(&m, row + b * block_bytes + 2, 2);
        sum += fp16_to_f32(m) * e[b];
      }
      y[t * rows + r] += sum;
    }
  }
}

}  // namespace kvforge::core

#include "core/kernels_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kvforge/core/half.h"
#include "kvforge/core/status.h"

namespace kvforge::core::ref {
float dot_f32(const float* a, const float* b, size_t n) {
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32(float a, const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void scale_f32(float* x, float s, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] *= s;
}

void softmax_f32(float* x, size_t n) {
  if (n == 0) return;
  float max_val = x[0];
  for (size_t i = 1; i < n; ++i) max_val = std::max(max_val, x[i]);
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    x[i] = expf(x[i] - max_val);
    sum += x[i];
  }
  for (size_t i = 0; i < n; ++i) x[i] /= sum;
}

void rmsnorm_f32(float* out, const float* x, const float* weight, size_t n, float eps) {
  float ss = 0.0f;
  for (size_t i = 0; i < n; ++i) ss += x[i] * x[i];
  ss /= static_cast<float>(n);
  ss += eps;
  ss = 1.0f / sqrtf(ss);
  for (size_t i = 0; i < n; ++i) out[i] = weight[i] * (ss * x[i]);
}

void rope_f32(float* x, int n_heads, int head_dim, int pos, float theta) {
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<size_t>(h) * static_cast<size_t>(head_dim);
    for (int i = 0; i + 1 < head_dim; i += 2) {
      const float freq = 1.0f / powf(theta, static_cast<float>(i) / static_cast<float>(head_dim));
      const float val = static_cast<float>(pos) * freq;
      const float fcr = cosf(val);
      const float fci = sinf(val);
      const float v0 = v[i];
      const float v1 = v[i + 1];
      v[i] = v0 * fcr - v1 * fci;
      v[i + 1] = v0 * fci + v1 * fcr;
    }
  }
}

void silu_mul_f32(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float val = gate[i];
    val *= 1.0f / (1.0f + expf(-val));
    gate[i] = val * up[i];
  }
}

void dequantize_row(TensorType type, const void* row, float* out, size_t n) {
  const auto* p = static_cast<const uint8_t*>(row);
  if (n == 0) return;  // callers may pass null pointers for empty rows
  const size_t block = static_cast<size_t>(tensor_type_block_elems(type));
  KVF_CHECK(n % block == 0);
  const size_t nb = n / block;
  switch (type) {
    case TensorType::kF32:
      std::memcpy(out, row, n * sizeof(float));
      return;
    case TensorType::kF16:
      for (size_t i = 0; i < n; ++i) out[i] = load_fp16(p + 2 * i);
      return;
    case TensorType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      return;
    case TensorType::kQ8_0:
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = p + b * sizeof(BlockQ8_0);
        const float d = load_fp16(blk);
        const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
        for (size_t j = 0; j < 32; ++j) out[b * 32 + j] = d * static_cast<float>(qs[j]);
      }
      return;
    case TensorType::kQ4_0:
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = p + b * sizeof(BlockQ4_0);
        const float d = load_fp16(blk);
        const uint8_t* qs = blk + 2;
        for (size_t j = 0; j < 16; ++j) {
          out[b * 32 + j] = static_cast<float>((qs[j] & 0xF) - 8) * d;
          out[b * 32 + j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
        }
      }
      return;
    case TensorType::kQ4_K:
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = p + b * sizeof(BlockQ4_K);
        const float d = load_fp16(blk);
        const float dmin = load_fp16(blk + 2);
        const uint8_t* scales = blk + 4;
        const uint8_t* q = blk + 16;
        float* y = out + b * 256;
        for (int j = 0; j < 8; j += 2) {  // 64 elements per step: low nibbles, then high
          uint8_t sc, m;
          q4_k_scale_min(j, scales, &sc, &m);
          const float d1 = d * sc, m1 = dmin * m;
          q4_k_scale_min(j + 1, scales, &sc, &m);
          const float d2 = d * sc, m2 = dmin * m;
          for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
          for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
          q += 32;
        }
      }
      return;
    case TensorType::kQ4_1: dequantize_q4_1(p, out, nb); return;
    case TensorType::kQ5_0: dequantize_q5_0(p, out, nb); return;
    case TensorType::kQ5_1: dequantize_q5_1(p, out, nb); return;
    case TensorType::kIQ4_NL: dequantize_iq4_nl(p, out, nb); return;
    case TensorType::kQ2_K: dequantize_q2_k(p, out, nb); return;
    case TensorType::kQ3_K: dequantize_q3_k(p, out, nb); return;
    case TensorType::kQ5_K: dequantize_q5_k(p, out, nb); return;
    case TensorType::kQ6_K: dequantize_q6_k(p, out, nb); return;
  }
  KVF_CHECK(false && "unknown tensor type");
}

float dot_row(TensorType type, const void* row, const float* x, size_t n) {
  std::vector<float> tmp(n);
  dequantize_row(type, row, tmp.data(), n);
  return dot_f32(tmp.data(), x, n);
}

void matvec(TensorType type, const void* w, size_t rows, size_t cols, const float* x, float* y) {
  const size_t row_bytes = cols / static_cast<size_t>(tensor_type_block_elems(type)) *
                           static_cast<size_t>(tensor_type_block_bytes(type));
  for (size_t r = 0; r < rows; ++r) y[r] = dot_row(type, static_cast<const uint8_t*>(w) + r * row_bytes, x, cols);
}

void matmul(TensorType type, const void* w, size_t rows, size_t cols, const float* x, size_t n_tokens, float* y) {
  for (size_t t = 0; t < n_tokens; ++t) matvec(type, w, rows, cols, x + t * cols, y + t * rows);
}

void quantize_row_q8_0(const float* x, void* out, size_t n) {
  KVF_CHECK(n % 32 == 0);
  auto* p = static_cast<uint8_t*>(out);
  for (size_t b = 0; b < n / 32; ++b) {
    const float* v = x + b * 32;
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, fabsf(v[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* blk = p + b * sizeof(BlockQ8_0);
    const uint16_t dh = f32_to_fp16(d);
    std::memcpy(blk, &dh, 2);
    for (int j = 0; j < 32; ++j) blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(roundf(v[j] * id)));
  }
}

void quantize_row_q4_0(const float* x, void* out, size_t n) {
  KVF_CHECK(n % 32 == 0);
  auto* p = static_cast<uint8_t*>(out);
  for (size_t b = 0; b < n / 32; ++b) {
    const float* v = x + b * 32;
    float amax = 0.0f, max = 0.0f;  // the signed value of largest magnitude maps to -8
    for (int j = 0; j < 32; ++j) {
      if (amax < fabsf(v[j])) {
        amax = fabsf(v[j]);
        max = v[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* blk = p + b * sizeof(BlockQ4_0);
    const uint16_t dh = f32_to_fp16(d);
    std::memcpy(blk, &dh, 2);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(v[j] * id + 8.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(v[j + 16] * id + 8.5f)));
      blk[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

}  // namespace kvforge::core::ref

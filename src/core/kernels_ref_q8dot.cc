// Activation quantization (q8_0 / q8_K, the formulas of round_activations) and
// the scalar integer dot products of Q8_0 / Q4_0 / Q4_K / Q6_K rows with them,
// following ggml's generic ggml_vec_dot_*_q8_* (integer sums per block, one
// float multiply per block).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/kernels_int_blocks.h"
#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/quantized_activations.h"
#include "kvforge/core/status.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::core {

namespace {

// Same arithmetic as round_q8_k (ggml's quantize_row_q8_K_ref), plus bsums.
void quantize_q8_k(const float* x, BlockQ8_K* out, size_t nb) {
  for (size_t b = 0; b < nb; ++b, x += 256) {
    BlockQ8_K& y = out[b];
    float amax = 0.0f, max = 0.0f;
    for (size_t j = 0; j < 256; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y, 0, sizeof(y));
      continue;
    }
    const float iscale = -127.0f / max;
    for (size_t j = 0; j < 256; ++j) {
      y.qs[j] = static_cast<int8_t>(std::min(127.0f, std::nearbyint(iscale * x[j])));
    }
    for (size_t g = 0; g < 16; ++g) {
      int sum = 0;
      for (size_t j = 0; j < 16; ++j) sum += y.qs[16 * g + j];
      y.bsums[g] = static_cast<int16_t>(sum);
    }
    y.d = 1.0f / iscale;
  }
}

float dot_q8_0(const uint8_t* w, const BlockQ8_0x* x, size_t nb) {
  float sum = 0.0f;
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ8_0)) {
    const auto* qs = reinterpret_cast<const int8_t*>(w + 2);
    int isum = 0;
    for (size_t j = 0; j < 32; ++j) isum += qs[j] * x[b].qs[j];
    sum += static_cast<float>(isum) * (ref::load_fp16(w) * fp16_to_f32(x[b].d));
  }
  return sum;
}

float dot_q4_0(const uint8_t* w, const BlockQ8_0x* x, size_t nb) {
  float sum = 0.0f;
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ4_0)) {
    const uint8_t* qs = w + 2;
    int isum = 0;
    for (size_t j = 0; j < 16; ++j) {
      isum += ((qs[j] & 0xF) - 8) * x[b].qs[j] + ((qs[j] >> 4) - 8) * x[b].qs[j + 16];
    }
    sum += static_cast<float>(isum) * (ref::load_fp16(w) * fp16_to_f32(x[b].d));
  }
  return sum;
}

// d * sum_j sc_j * (q . x)_j - dmin * sum_j m_j * (sum of x codes)_j, the latter
// from the q8_K block sums as ggml_vec_dot_q4_K_q8_K takes it.
float dot_q4_k(const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  float sum = 0.0f;
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ4_K)) {
    const uint8_t* q = w + 16;
    const int8_t* q8 = x[b].qs;
    int isum = 0, imin = 0;
    for (int j = 0; j < 8; j += 2, q += 32, q8 += 64) {
      uint8_t sc1, m1, sc2, m2;
      ref::q4_k_scale_min(j, w + 4, &sc1, &m1);
      ref::q4_k_scale_min(j + 1, w + 4, &sc2, &m2);
      int s1 = 0, s2 = 0;
      for (int l = 0; l < 32; ++l) {
        s1 += (q[l] & 0xF) * q8[l];
        s2 += (q[l] >> 4) * q8[l + 32];
      }
      isum += sc1 * s1 + sc2 * s2;
      imin += m1 * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]) + m2 * (x[b].bsums[2 * j + 2] + x[b].bsums[2 * j + 3]);
    }
    sum += ref::load_fp16(w) * x[b].d * static_cast<float>(isum);
    sum -= ref::load_fp16(w + 2) * x[b].d * static_cast<float>(imin);
  }
  return sum;
}

// d * sum_g sc_g * ((q - 32) . x)_g over the 16 groups of 16.
float dot_q6_k(const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  float sum = 0.0f;
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ6_K)) {
    int isum = 0;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w + 64 * half;
      const uint8_t* qh = w + 128 + 32 * half;
      const auto* sc = reinterpret_cast<const int8_t*>(w + 192 + 8 * half);
      const int8_t* q8 = x[b].qs + 128 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        isum += sc[is] * q1 * q8[l] + sc[is + 2] * q2 * q8[l + 32] + sc[is + 4] * q3 * q8[l + 64] +
                sc[is + 6] * q4 * q8[l + 96];
      }
    }
    sum += ref::load_fp16(w + 208) * x[b].d * static_cast<float>(isum);
  }
  return sum;
}

}  // namespace

bool has_q8_dot(TensorType weight) {
  return weight == TensorType::kQ8_0 || weight == TensorType::kQ4_0 || weight == TensorType::kQ4_K ||
         weight == TensorType::kQ6_K || is_unpacked32_type(weight) || is_unpacked256_type(weight);
}

namespace {

// Rows [t0, t1) of *out, already sized by quantize_activations.
void quantize_rows(const float* x, QuantizedActivations* out, size_t t0, size_t t1) {
  const bool k = out->type == ActivationType::kQ8_K;
  const size_t n = out->n, nb = n / (k ? 256 : 32);
  for (size_t t = t0; t < t1; ++t) {
    void* dst = out->storage.data() + t * out->row_bytes;
    if (k) {
      quantize_q8_k(x + t * n, static_cast<BlockQ8_K*>(dst), nb);
      continue;
    }
    quantize_q8_0_blocks(x + t * n, nb, static_cast<BlockQ8_0x*>(dst), out->scales.data() + t * nb,
                         out->neg_sums.data() + t * nb);
  }
}

}  // namespace

void quantize_activations(ActivationType type, const float* x, size_t n, size_t n_rows, QuantizedActivations* out,
                          ThreadPool* pool) {
  // q8_1 codes are q8_0's; the block sums ggml keeps beside them are neg_sums.
  KVF_CHECK(type == ActivationType::kQ8_0 || type == ActivationType::kQ8_1 || type == ActivationType::kQ8_K);
  const bool k = type == ActivationType::kQ8_K;
  const size_t block = k ? 256 : 32;
  KVF_CHECK(n % block == 0);
  out->type = type;
  out->n = n;
  out->n_rows = n_rows;
  out->row_bytes = n / block * (k ? sizeof(BlockQ8_K) : sizeof(BlockQ8_0x));
  if (out->storage.size() < out->row_bytes * n_rows) out->storage.resize(out->row_bytes * n_rows);
  if (!k) {
    out->scales.resize(n / block * n_rows);
    out->neg_sums.resize(n / block * n_rows);
  }
  // Rows are independent; a prefill batch is worth splitting, a token is not.
  if (pool == nullptr || pool->size() == 1 || n_rows < 4) {
    quantize_rows(x, out, 0, n_rows);
    return;
  }
  pool->parallel_for(n_rows, [&](size_t t0, size_t t1) { quantize_rows(x, out, t0, t1); });
}

void dequantize_activations(const QuantizedRow& x, float* out) {
  if (x.type == ActivationType::kQ8_K) {
    const auto* b = static_cast<const BlockQ8_K*>(x.blocks);
    for (size_t i = 0; i < x.n / 256; ++i) {
      for (size_t j = 0; j < 256; ++j) out[i * 256 + j] = b[i].d * static_cast<float>(b[i].qs[j]);
    }
    return;
  }
  KVF_CHECK(x.type == ActivationType::kQ8_0 || x.type == ActivationType::kQ8_1);
  const auto* b = static_cast<const BlockQ8_0x*>(x.blocks);
  for (size_t i = 0; i < x.n / 32; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (size_t j = 0; j < 32; ++j) out[i * 32 + j] = d * static_cast<float>(b[i].qs[j]);
  }
}

namespace ref {

float dot_row_q8(TensorType weight_type, const void* row, const QuantizedRow& x, size_t n) {
  KVF_CHECK(has_q8_dot(weight_type) && x.type == activation_type_for(weight_type) && n == x.n);
  const auto* w = static_cast<const uint8_t*>(row);
  switch (weight_type) {
    case TensorType::kQ8_0: return dot_q8_0(w, static_cast<const BlockQ8_0x*>(x.blocks), n / 32);
    case TensorType::kQ4_0: return dot_q4_0(w, static_cast<const BlockQ8_0x*>(x.blocks), n / 32);
    case TensorType::kQ4_K: return dot_q4_k(w, static_cast<const BlockQ8_K*>(x.blocks), n / 256);
    case TensorType::kQ6_K: return dot_q6_k(w, static_cast<const BlockQ8_K*>(x.blocks), n / 256);
    default:
      if (is_unpacked32_type(weight_type)) {
        return dot_unpacked32_q8(weight_type, w, static_cast<const BlockQ8_0x*>(x.blocks), n / 32);
      }
      return dot_unpacked256_q8(weight_type, w, static_cast<const BlockQ8_K*>(x.blocks), n / 256);
  }
}

// Same arithmetic as round_q8_0 in activation_rounding.cc, keeping the codes.
void quantize_q8_0_blocks(const float* x, size_t nb, BlockQ8_0x* out, float* scales, int32_t* neg_sums) {
  for (size_t b = 0; b < nb; ++b, x += 32) {
    float amax = 0.0f;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    out[b].d = f32_to_fp16(amax / 127.0f);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (size_t j = 0; j < 32; ++j) {
      out[b].qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
      sum += out[b].qs[j];
    }
    scales[b] = fp16_to_f32(out[b].d);
    neg_sums[b] = -sum;
  }
}

}  // namespace ref
}  // namespace kvforge::core

// GGML blocks without a dedicated integer kernel (Q4_1, Q5_0, Q5_1, IQ4_NL,
// Q2_K, Q3_K, Q5_K) unpacked to int8 codes and integer sub-block scales, so
// one integer dot serves them all: the scalar reference sums code products in
// int32 from this form, and the SIMD kernels multiply the same codes lane-wise
// (kernels_q8dot_unpacked-inl.h). The unpack is checked against the float
// decoders of kernels_ref_quants.cc by the tests (value = d * q + m for a
// 32-block; d * scale[g] * q - dmin * min[g] for a 256-block).
#pragma once

#include <cstdint>
#include <cstring>

#include "core/kernels_ref.h"
#include "kvforge/core/tensor_type.h"

namespace kvforge::core {

// One 32-element block: x[j] = d * q[j] + m (m = 0 for Q5_0 and IQ4_NL).
struct IntBlock32 {
  int8_t q[32];
  float d, m;
};

// One 256-element super-block in 16 groups of 16:
// x[j] = d * scale[j / 16] * q[j] - dmin * min[j / 16].
struct IntBlock256 {
  int8_t q[256];
  int16_t scale[16], min[16];
  float d, dmin;
};

inline bool is_unpacked32_type(TensorType t) {
  return t == TensorType::kQ4_1 || t == TensorType::kQ5_0 || t == TensorType::kQ5_1 || t == TensorType::kIQ4_NL;
}
inline bool is_unpacked256_type(TensorType t) {
  return t == TensorType::kQ2_K || t == TensorType::kQ3_K || t == TensorType::kQ5_K;
}

namespace unpack_detail {

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Nibbles as Q4_0 lays them out (element j low nibble of qs[j], j + 16 high),
// plus bit j of qh as bit 4 when qh_bits is set (Q5_0 / Q5_1).
inline void nibbles(const uint8_t* qs, uint32_t qh, bool qh_bits, int offset, int8_t* q) {
  for (int j = 0; j < 16; ++j) {
    int lo = qs[j] & 0xF, hi = qs[j] >> 4;
    if (qh_bits) {
      lo |= static_cast<int>((qh >> j) & 1u) << 4;
      hi |= static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    }
    q[j] = static_cast<int8_t>(lo - offset);
    q[j + 16] = static_cast<int8_t>(hi - offset);
  }
}

// Q2_K and Q3_K's shared 2-bit layout (see ref::dequantize_q2_k): element
// 128 * half + 32 * s + l has bits 2s of qs[32 * half + l].
inline void two_bit_codes(const uint8_t* qs, int8_t* q) {
  for (int half = 0; half < 2; ++half) {
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; ++l) q[128 * half + 32 * s + l] = static_cast<int8_t>((qs[32 * half + l] >> (2 * s)) & 3);
    }
  }
}

}  // namespace unpack_detail

inline void unpack_block32(TensorType type, const uint8_t* p, IntBlock32* out) {
  using unpack_detail::load_u32;
  using unpack_detail::nibbles;
  out->d = ref::load_fp16(p);
  out->m = 0.0f;
  switch (type) {
    case TensorType::kQ4_1:
      out->m = ref::load_fp16(p + 2);
      nibbles(p + 4, 0, false, 0, out->q);
      return;
    case TensorType::kQ5_0: nibbles(p + 6, load_u32(p + 2), true, 16, out->q); return;
    case TensorType::kQ5_1:
      out->m = ref::load_fp16(p + 2);
      nibbles(p + 8, load_u32(p + 4), true, 0, out->q);
      return;
    default:  // IQ4_NL: the nibble indexes the non-linear levels
      for (int j = 0; j < 16; ++j) {
        out->q[j] = kIq4nlValues[p[2 + j] & 0xF];
        out->q[j + 16] = kIq4nlValues[p[2 + j] >> 4];
      }
      return;
  }
}

inline void unpack_q2_k(const uint8_t* p, IntBlock256* out) {
  unpack_detail::two_bit_codes(p + 16, out->q);
  for (int g = 0; g < 16; ++g) {
    out->scale[g] = static_cast<int16_t>(p[g] & 0xF);
    out->min[g] = static_cast<int16_t>(p[g] >> 4);
  }
  out->d = ref::load_fp16(p + 80);
  out->dmin = ref::load_fp16(p + 82);
}

inline void unpack_q3_k(const uint8_t* p, IntBlock256* out) {
  unpack_detail::two_bit_codes(p + 32, out->q);
  const uint8_t* hmask = p;
  // A clear high bit means the quant is 4 lower (GGML stores q + 4).
  for (int k = 0; k < 8; ++k) {
    for (int l = 0; l < 32; ++l) {
      if (((hmask[l] >> k) & 1) == 0) out->q[32 * k + l] = static_cast<int8_t>(out->q[32 * k + l] - 4);
    }
  }
  for (int g = 0; g < 16; ++g) {
    out->scale[g] = static_cast<int16_t>(ref::q3_k_scale(g, p + 96));
    out->min[g] = 0;
  }
  out->d = ref::load_fp16(p + 108);
  out->dmin = 0.0f;
}

inline void unpack_q5_k(const uint8_t* p, IntBlock256* out) {
  const uint8_t* qh = p + 16;
  const uint8_t* ql = p + 48;
  for (int c = 0; c < 4; ++c, ql += 32) {
    for (int l = 0; l < 32; ++l) {
      out->q[64 * c + l] = static_cast<int8_t>((ql[l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4));
      out->q[64 * c + 32 + l] = static_cast<int8_t>((ql[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4));
    }
  }
  for (int j = 0; j < 8; ++j) {  // a 32-element sub-block is two groups of 16
    uint8_t sc, m;
    ref::q4_k_scale_min(j, p + 4, &sc, &m);
    out->scale[2 * j] = out->scale[2 * j + 1] = sc;
    out->min[2 * j] = out->min[2 * j + 1] = m;
  }
  out->d = ref::load_fp16(p);
  out->dmin = ref::load_fp16(p + 2);
}

inline void unpack_block256(TensorType type, const uint8_t* p, IntBlock256* out) {
  switch (type) {
    case TensorType::kQ2_K: unpack_q2_k(p, out); return;
    case TensorType::kQ3_K: unpack_q3_k(p, out); return;
    default: unpack_q5_k(p, out); return;
  }
}

}  // namespace kvforge::core

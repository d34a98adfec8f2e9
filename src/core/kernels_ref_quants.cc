// Scalar decoders of the GGML block types beyond Q8_0/Q4_0/Q4_K, written from
// the layouts in ggml-common.h and the arithmetic of ggml-quants.c's
// dequantize_row_*: the same products in the same order, so results are the
// bits llama.cpp's own reference decoder produces.
#include <cstring>

#include "core/kernels_ref.h"
#include "kvforge/core/half.h"

namespace kvforge::core::ref {
namespace {


uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // GGUF is little-endian, as is every host kvforge builds for
}

// The 5-bit quant of element j (0..31) of a Q5_0/Q5_1 block: the nibble of
// qs[j % 16] (low half first) with bit j of qh on top.
int q5_quant(const uint8_t* qs, uint32_t qh, int j) {
  const int nibble = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
  return nibble | static_cast<int>(((qh >> j) & 1u) << 4);
}

}  // namespace

void dequantize_q4_1(const uint8_t* p, float* out, size_t nb) {
  for (size_t b = 0; b < nb; ++b, p += sizeof(BlockQ4_1), out += 32) {
    const float d = load_fp16(p);
    const float m = load_fp16(p + 2);
    const uint8_t* qs = p + 4;
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<float>(qs[j] & 0xF) * d + m;
      out[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0(const uint8_t* p, float* out, size_t nb) {
  for (size_t b = 0; b < nb; ++b, p += sizeof(BlockQ5_0), out += 32) {
    const float d = load_fp16(p);
    const uint32_t qh = load_u32(p + 2);
    for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(q5_quant(p + 6, qh, j) - 16) * d;
  }
}

void dequantize_q5_1(const uint8_t* p, float* out, size_t nb) {
  for (size_t b = 0; b < nb; ++b, p += sizeof(BlockQ5_1), out += 32) {
    const float d = load_fp16(p);
    const float m = load_fp16(p + 2);
    const uint32_t qh = load_u32(p + 4);
    for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(q5_quant(p + 8, qh, j)) * d + m;
  }
}

void dequantize_iq4_nl(const uint8_t* p, float* out, size_t nb) {
  for (size_t b = 0; b < nb; ++b, p += sizeof(BlockIQ4_NL), out += 32) {
    const float d = load_fp16(p);
    const uint8_t* qs = p + 2;
    for (int j = 0; j < 16; ++j) {
      out[j] = d * static_cast<float>(kIq4nlValues[qs[j] & 0xF]);
      out[j + 16] = d * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
    }
  }
}

// Q2_K and Q3_K share the 2-bit layout: each half of the block (128 elements)
// reads 32 bytes four times, at shifts 0, 2, 4, 6; each pass covers 32
// consecutive elements, two 16-element sub-blocks.
void dequantize_q2_k(const uint8_t* p, float* out, size_t nb) {
  for (size_t b = 0; b < nb; ++b, p += sizeof(BlockQ2_K)) {
    const uint8_t* scales = p;
    const float d = load_fp16(p + 80);
    const float dmin = load_fp16(p + 82);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q = p + 16 + 32 * half;
      for (int s = 0; s < 4; ++s) {
        for (int sub = 0; sub < 2; ++sub) {
          const uint8_t sc = scales[8 * half + 2 * s + sub];
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) {
            *out++ = dl * static_cast<float>((q[16 * sub + l] >> (2 * s)) & 3) - ml;
          }
        }
      }
    }
  }
}

void dequantize_q3_k(const uint8_t* p, float* out, size_t nb) {
  for (size_t b = 0; b < nb; ++b, p += sizeof(BlockQ3_K)) {
    const uint8_t* hmask = p;
    const uint8_t* scales = p + 96;
    const float d = load_fp16(p + 108);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q = p + 32 + 32 * half;
      for (int s = 0; s < 4; ++s) {
        const int hbit = 4 * half + s;
        for (int sub = 0; sub < 2; ++sub) {
          const float dl = d * static_cast<float>(q3_k_scale(8 * half + 2 * s + sub, scales));
          for (int l = 16 * sub; l < 16 * sub + 16; ++l) {
            // A clear high bit means the quant is 4 lower (GGML stores q + 4).
            const int v = ((q[l] >> (2 * s)) & 3) - (((hmask[l] >> hbit) & 1) ? 0 : 4);
            *out++ = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

void dequantize_q5_k(const uint8_t* p, float* out, size_t nb) {
  for (size_t b = 0; b < nb; ++b, p += sizeof(BlockQ5_K)) {
    const float d = load_fp16(p);
    const float dmin = load_fp16(p + 2);
    const uint8_t* scales = p + 4;
    const uint8_t* qh = p + 16;
    const uint8_t* ql = p + 48;
    for (int c = 0; c < 4; ++c, ql += 32) {  // 64 elements: low nibbles, then high
      uint8_t sc, m;
      q4_k_scale_min(2 * c, scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      q4_k_scale_min(2 * c + 1, scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) {
        const int q = (ql[l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4);
        *out++ = d1 * static_cast<float>(q) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        const int q = (ql[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
        *out++ = d2 * static_cast<float>(q) - m2;
      }
    }
  }
}

void dequantize_q6_k(const uint8_t* p, float* out, size_t nb) {
  for (size_t b = 0; b < nb; ++b, p += sizeof(BlockQ6_K)) {
    const float d = load_fp16(p + 208);
    for (int half = 0; half < 2; ++half, out += 128) {
      const uint8_t* ql = p + 64 * half;
      const uint8_t* qh = p + 128 + 32 * half;
      const auto* sc = reinterpret_cast<const int8_t*>(p + 192 + 8 * half);
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        out[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        out[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        out[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace kvforge::core::ref

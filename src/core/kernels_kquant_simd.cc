// Vectorized dequantize and fp32-activation dot for the K-quants Q2_K, Q3_K,
// Q5_K and Q6_K (Q4_K is in kernels.cc), compiled once per SIMD target; see
// kernels_quant_simd.cc for the approach. Super-blocks of 256 elements carry
// one scale (and min) per 16- or 32-element sub-block, so the dot keeps one
// q*x accumulator per sub-block in flight and applies its scale once.
#include <cstring>

#include "core/kernels_ref.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels_kquant_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "core/kernels_quant_simd-inl.h"
#include "core/kernels_quant_simd.h"

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace {

// ---- K-quants: 2-bit layout (Q2_K, Q3_K) ------------------------------------

// Quant of shift group kS (0..3) from 2-bit bytes; for Q3_K, `high` holds the
// hmask bytes shifted so that bit kS is this group's bit 2 (clear means -4).
template <int kS>
HWY_INLINE VF Q2Quant(VI bytes) {
  return ToFloat(hn::And(hn::ShiftRight<2 * kS>(bytes), hn::Set(DI(), 3)));
}
template <int kS>
HWY_INLINE VF Q3Quant(VI bytes, VI high) {
  const DI di;
  const VI low = hn::And(hn::ShiftRight<2 * kS>(bytes), hn::Set(di, 3));
  const VI bit2 = hn::ShiftLeft<2>(hn::And(hn::ShiftRight<kS>(high), hn::Set(di, 1)));
  return ToFloat(hn::Sub(hn::Or(low, bit2), hn::Set(di, 4)));
}

// One 2-bit quant group of Q2_K/Q3_K: 16 bytes q feed the four 16-element
// sub-blocks at x, x + 32, x + 64, x + 96 (shifts 0, 2, 4, 6), whose scales
// are dl[0], dl[2], dl[4], dl[6] (and Q2_K mins ml[...] likewise): sub-blocks
// are numbered in element order. Returns acc + sum over them of w * x.
template <bool kQ3>
HWY_INLINE VF TwoBitDot(const uint8_t* q, const uint8_t* hmask, int hshift, const float* x, const float* dl,
                        const float* ml, VF acc) {
  const DF d;
  auto qx0 = hn::Zero(d), qx1 = hn::Zero(d), qx2 = hn::Zero(d), qx3 = hn::Zero(d);
  auto xs0 = hn::Zero(d), xs1 = hn::Zero(d), xs2 = hn::Zero(d), xs3 = hn::Zero(d);
  for (size_t l = 0; l < 16; l += hn::Lanes(d)) {
    const VI bytes = LoadBytes(q + l);
    const VF x0 = hn::LoadU(d, x + l), x1 = hn::LoadU(d, x + 32 + l);
    const VF x2 = hn::LoadU(d, x + 64 + l), x3 = hn::LoadU(d, x + 96 + l);
    if constexpr (kQ3) {
      const VI high = hn::ShiftRightSame(LoadBytes(hmask + l), hshift);
      qx0 = hn::MulAdd(Q3Quant<0>(bytes, high), x0, qx0);
      qx1 = hn::MulAdd(Q3Quant<1>(bytes, high), x1, qx1);
      qx2 = hn::MulAdd(Q3Quant<2>(bytes, high), x2, qx2);
      qx3 = hn::MulAdd(Q3Quant<3>(bytes, high), x3, qx3);
    } else {
      qx0 = hn::MulAdd(Q2Quant<0>(bytes), x0, qx0);
      qx1 = hn::MulAdd(Q2Quant<1>(bytes), x1, qx1);
      qx2 = hn::MulAdd(Q2Quant<2>(bytes), x2, qx2);
      qx3 = hn::MulAdd(Q2Quant<3>(bytes), x3, qx3);
      xs0 = hn::Add(xs0, x0);
      xs1 = hn::Add(xs1, x1);
      xs2 = hn::Add(xs2, x2);
      xs3 = hn::Add(xs3, x3);
    }
  }
  // Two short chains, then one add into acc: a single chain of eight
  // dependent FMAs per group would bound the loop by FMA latency.
  VF s = hn::Mul(hn::Set(d, dl[0]), qx0), t = hn::Mul(hn::Set(d, dl[2]), qx1);
  s = hn::MulAdd(hn::Set(d, dl[4]), qx2, s);
  t = hn::MulAdd(hn::Set(d, dl[6]), qx3, t);
  if constexpr (!kQ3) {
    s = hn::NegMulAdd(hn::Set(d, ml[0]), xs0, s);
    t = hn::NegMulAdd(hn::Set(d, ml[2]), xs1, t);
    s = hn::NegMulAdd(hn::Set(d, ml[4]), xs2, s);
    t = hn::NegMulAdd(hn::Set(d, ml[6]), xs3, t);
  }
  acc = hn::Add(acc, hn::Add(s, t));
  return acc;
}

// ---- Q6_K ---------------------------------------------------------------------

// The four 6-bit quants (centred: q - 32) that bytes ql[l], ql[l + 32], qh[l]
// hold, for elements l, l + 32, l + 64, l + 96 of a 128-element half.
HWY_INLINE void Q6Quants(const uint8_t* ql, const uint8_t* qh, VF& q1, VF& q2, VF& q3, VF& q4) {
  const DI di;
  const VI a = LoadBytes(ql), b = LoadBytes(ql + 32), h = LoadBytes(qh);
  const VI k15 = hn::Set(di, 15), k32 = hn::Set(di, 32);
  q1 = ToFloat(hn::Sub(hn::Or(hn::And(a, k15), hn::ShiftLeft<4>(hn::And(h, hn::Set(di, 3)))), k32));
  q2 = ToFloat(hn::Sub(hn::Or(hn::And(b, k15), hn::ShiftLeft<2>(hn::And(h, hn::Set(di, 12)))), k32));
  q3 = ToFloat(hn::Sub(hn::Or(hn::ShiftRight<4>(a), hn::And(h, hn::Set(di, 48))), k32));
  q4 = ToFloat(hn::Sub(hn::Or(hn::ShiftRight<4>(b), hn::ShiftRight<2>(hn::And(h, hn::Set(di, 192)))), k32));
}

// ---- Q5_K ---------------------------------------------------------------------

// Quants of elements l.. (low nibbles) and 32 + l.. (high nibbles) of chunk c
// (64 elements), bit 4 from qh bits 2c and 2c + 1.
HWY_INLINE void Q5KQuants(const uint8_t* ql, const uint8_t* qh, int c, VF& lo, VF& hi) {
  const DI di;
  const VI bytes = LoadBytes(ql);
  const VI high = hn::ShiftRightSame(LoadBytes(qh), 2 * c);
  lo = ToFloat(hn::Or(hn::And(bytes, hn::Set(di, 15)), hn::ShiftLeft<4>(hn::And(high, hn::Set(di, 1)))));
  hi = ToFloat(hn::Or(hn::ShiftRight<4>(bytes), hn::ShiftLeft<3>(hn::And(high, hn::Set(di, 2)))));
}

// The 16 sub-block scales (and mins) of a K-quant block times the block's
// fp16 scales, once per block, vectorized: the same products as the reference
// (d * float(scale)), so dequantize stays bit-identical.
HWY_INLINE void Q2Scales(const uint8_t* blk, float* dl, float* ml) {
  const DF d;
  const VF dall = hn::Set(d, LoadHalf(blk + 80)), dmin = hn::Set(d, LoadHalf(blk + 82));
  for (size_t j = 0; j < 16; j += hn::Lanes(d)) {
    const VI bytes = LoadBytes(blk + j);
    hn::StoreU(hn::Mul(dall, ToFloat(hn::And(bytes, hn::Set(DI(), 15)))), d, dl + j);
    hn::StoreU(hn::Mul(dmin, ToFloat(hn::ShiftRight<4>(bytes))), d, ml + j);
  }
}

// Q3_K packs 16 6-bit scales in 12 bytes: low nibbles of bytes 0..7 are
// scales 0..7, their high nibbles 8..15; bits 2k, 2k+1 of bytes 8..11 are the
// top bits of scales 4k..4k+3. Unpacked a word at a time.
HWY_INLINE void Q3Scales(const uint8_t* blk, float* dl) {
  uint64_t low;
  uint32_t top;
  std::memcpy(&low, blk + 96, 8);
  std::memcpy(&top, blk + 104, 4);
  constexpr uint64_t kNibbles = 0x0F0F0F0F0F0F0F0Full;
  constexpr uint32_t kPairs = 0x03030303u;
  const uint64_t top0 = (top & kPairs) | (static_cast<uint64_t>((top >> 2) & kPairs) << 32);
  const uint64_t top1 = ((top >> 4) & kPairs) | (static_cast<uint64_t>((top >> 6) & kPairs) << 32);
  const uint64_t packed[2] = {(low & kNibbles) | (top0 << 4), ((low >> 4) & kNibbles) | (top1 << 4)};
  uint8_t biased[16];  // scale + 32, little-endian byte order
  std::memcpy(biased, packed, 16);
  const DF d;
  const VF dall = hn::Set(d, LoadHalf(blk + 108));
  for (size_t j = 0; j < 16; j += hn::Lanes(d)) {
    hn::StoreU(hn::Mul(dall, ToFloat(hn::Sub(LoadBytes(biased + j), hn::Set(DI(), 32)))), d, dl + j);
  }
}

}  // namespace

float DotQ2_K(const uint8_t* row, const float* x, size_t n) {
  auto acc = hn::Zero(DF());
  float dl[16], ml[16];
  for (size_t b = 0; b < n / 256; ++b, row += sizeof(BlockQ2_K), x += 256) {
    Q2Scales(row, dl, ml);
    for (int g = 0; g < 4; ++g) {  // (half, sub) pairs: 16 bytes, four sub-blocks each
      const int half = g / 2, sub = g % 2, j = 8 * half + sub;
      acc = TwoBitDot<false>(row + 16 + 32 * half + 16 * sub, nullptr, 0, x + 128 * half + 16 * sub, dl + j, ml + j,
                             acc);
    }
  }
  return Sum(acc);
}

void DequantizeQ2_K(const uint8_t* row, float* out, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  float dl[16], ml[16];
  for (size_t b = 0; b < n / 256; ++b, row += sizeof(BlockQ2_K), out += 256) {
    Q2Scales(row, dl, ml);
    for (int g = 0; g < 4; ++g) {
      const int half = g / 2, sub = g % 2, j = 8 * half + sub;
      const uint8_t* q = row + 16 + 32 * half + 16 * sub;
      float* y = out + 128 * half + 16 * sub;
      for (size_t l = 0; l < 16; l += N) {
        const VI bytes = LoadBytes(q + l);
        hn::StoreU(hn::Sub(hn::Mul(hn::Set(d, dl[j]), Q2Quant<0>(bytes)), hn::Set(d, ml[j])), d, y + l);
        hn::StoreU(hn::Sub(hn::Mul(hn::Set(d, dl[j + 2]), Q2Quant<1>(bytes)), hn::Set(d, ml[j + 2])), d, y + 32 + l);
        hn::StoreU(hn::Sub(hn::Mul(hn::Set(d, dl[j + 4]), Q2Quant<2>(bytes)), hn::Set(d, ml[j + 4])), d, y + 64 + l);
        hn::StoreU(hn::Sub(hn::Mul(hn::Set(d, dl[j + 6]), Q2Quant<3>(bytes)), hn::Set(d, ml[j + 6])), d, y + 96 + l);
      }
    }
  }
}

float DotQ3_K(const uint8_t* row, const float* x, size_t n) {
  auto acc = hn::Zero(DF());
  float dl[16];
  for (size_t b = 0; b < n / 256; ++b, row += sizeof(BlockQ3_K), x += 256) {
    Q3Scales(row, dl);
    for (int g = 0; g < 4; ++g) {
      const int half = g / 2, sub = g % 2;
      acc = TwoBitDot<true>(row + 32 + 32 * half + 16 * sub, row + 16 * sub, 4 * half, x + 128 * half + 16 * sub,
                            dl + 8 * half + sub, nullptr, acc);
    }
  }
  return Sum(acc);
}

void DequantizeQ3_K(const uint8_t* row, float* out, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  float dl[16];
  for (size_t b = 0; b < n / 256; ++b, row += sizeof(BlockQ3_K), out += 256) {
    Q3Scales(row, dl);
    for (int g = 0; g < 4; ++g) {
      const int half = g / 2, sub = g % 2, j = 8 * half + sub;
      const uint8_t* q = row + 32 + 32 * half + 16 * sub;
      const uint8_t* hmask = row + 16 * sub;
      float* y = out + 128 * half + 16 * sub;
      for (size_t l = 0; l < 16; l += N) {
        const VI bytes = LoadBytes(q + l);
        const VI high = hn::ShiftRightSame(LoadBytes(hmask + l), 4 * half);
        hn::StoreU(hn::Mul(hn::Set(d, dl[j]), Q3Quant<0>(bytes, high)), d, y + l);
        hn::StoreU(hn::Mul(hn::Set(d, dl[j + 2]), Q3Quant<1>(bytes, high)), d, y + 32 + l);
        hn::StoreU(hn::Mul(hn::Set(d, dl[j + 4]), Q3Quant<2>(bytes, high)), d, y + 64 + l);
        hn::StoreU(hn::Mul(hn::Set(d, dl[j + 6]), Q3Quant<3>(bytes, high)), d, y + 96 + l);
      }
    }
  }
}

float DotQ5_K(const uint8_t* row, const float* x, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  auto acc = hn::Zero(d);
  for (size_t b = 0; b < n / 256; ++b, row += sizeof(BlockQ5_K)) {
    const float dall = LoadHalf(row), dmin = LoadHalf(row + 2);
    for (int c = 0; c < 4; ++c, x += 64) {
      uint8_t sc1, m1, sc2, m2;
      ref::q4_k_scale_min(2 * c, row + 4, &sc1, &m1);
      ref::q4_k_scale_min(2 * c + 1, row + 4, &sc2, &m2);
      auto qx1 = hn::Zero(d), qx2 = hn::Zero(d), xs1 = hn::Zero(d), xs2 = hn::Zero(d);
      for (size_t l = 0; l < 32; l += N) {
        VF lo, hi;
        Q5KQuants(row + 48 + 32 * c + l, row + 16 + l, c, lo, hi);
        const VF xa = hn::LoadU(d, x + l), xb = hn::LoadU(d, x + 32 + l);
        qx1 = hn::MulAdd(lo, xa, qx1);
        qx2 = hn::MulAdd(hi, xb, qx2);
        xs1 = hn::Add(xs1, xa);
        xs2 = hn::Add(xs2, xb);
      }
      // Two short chains per chunk rather than one long one through acc.
      VF s = hn::Mul(hn::Set(d, dall * sc1), qx1), t = hn::Mul(hn::Set(d, dall * sc2), qx2);
      s = hn::NegMulAdd(hn::Set(d, dmin * m1), xs1, s);
      t = hn::NegMulAdd(hn::Set(d, dmin * m2), xs2, t);
      acc = hn::Add(acc, hn::Add(s, t));
    }
  }
  return Sum(acc);
}

void DequantizeQ5_K(const uint8_t* row, float* out, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  for (size_t b = 0; b < n / 256; ++b, row += sizeof(BlockQ5_K)) {
    const float dall = LoadHalf(row), dmin = LoadHalf(row + 2);
    for (int c = 0; c < 4; ++c, out += 64) {
      uint8_t sc1, m1, sc2, m2;
      ref::q4_k_scale_min(2 * c, row + 4, &sc1, &m1);
      ref::q4_k_scale_min(2 * c + 1, row + 4, &sc2, &m2);
      const VF d1 = hn::Set(d, dall * sc1), mm1 = hn::Set(d, dmin * m1);
      const VF d2 = hn::Set(d, dall * sc2), mm2 = hn::Set(d, dmin * m2);
      for (size_t l = 0; l < 32; l += N) {
        VF lo, hi;
        Q5KQuants(row + 48 + 32 * c + l, row + 16 + l, c, lo, hi);
        hn::StoreU(hn::Sub(hn::Mul(d1, lo), mm1), d, out + l);
        hn::StoreU(hn::Sub(hn::Mul(d2, hi), mm2), d, out + 32 + l);
      }
    }
  }
}

float DotQ6_K(const uint8_t* row, const float* x, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  auto acc = hn::Zero(d);
  for (size_t b = 0; b < n / 256; ++b, row += sizeof(BlockQ6_K)) {
    const float dall = LoadHalf(row + 208);
    for (int half = 0; half < 2; ++half, x += 128) {
      const uint8_t* ql = row + 64 * half;
      const uint8_t* qh = row + 128 + 32 * half;
      const auto* sc = reinterpret_cast<const int8_t*>(row + 192 + 8 * half);
      for (size_t is = 0; is < 2; ++is) {  // 16 lanes of each quarter share a scale
        auto qx1 = hn::Zero(d), qx2 = hn::Zero(d), qx3 = hn::Zero(d), qx4 = hn::Zero(d);
        for (size_t l = 16 * is; l < 16 * is + 16; l += N) {
          VF q1, q2, q3, q4;
          Q6Quants(ql + l, qh + l, q1, q2, q3, q4);
          qx1 = hn::MulAdd(q1, hn::LoadU(d, x + l), qx1);
          qx2 = hn::MulAdd(q2, hn::LoadU(d, x + 32 + l), qx2);
          qx3 = hn::MulAdd(q3, hn::LoadU(d, x + 64 + l), qx3);
          qx4 = hn::MulAdd(q4, hn::LoadU(d, x + 96 + l), qx4);
        }
        VF s = hn::Mul(hn::Set(d, dall * static_cast<float>(sc[is])), qx1);
        VF t = hn::Mul(hn::Set(d, dall * static_cast<float>(sc[is + 2])), qx2);
        s = hn::MulAdd(hn::Set(d, dall * static_cast<float>(sc[is + 4])), qx3, s);
        t = hn::MulAdd(hn::Set(d, dall * static_cast<float>(sc[is + 6])), qx4, t);
        acc = hn::Add(acc, hn::Add(s, t));
      }
    }
  }
  return Sum(acc);
}

void DequantizeQ6_K(const uint8_t* row, float* out, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  for (size_t b = 0; b < n / 256; ++b, row += sizeof(BlockQ6_K)) {
    const float dall = LoadHalf(row + 208);
    for (int half = 0; half < 2; ++half, out += 128) {
      const uint8_t* ql = row + 64 * half;
      const uint8_t* qh = row + 128 + 32 * half;
      const auto* sc = reinterpret_cast<const int8_t*>(row + 192 + 8 * half);
      for (size_t l = 0; l < 32; l += N) {
        const size_t is = l / 16;
        VF q1, q2, q3, q4;
        Q6Quants(ql + l, qh + l, q1, q2, q3, q4);
        hn::StoreU(hn::Mul(hn::Set(d, dall * static_cast<float>(sc[is])), q1), d, out + l);
        hn::StoreU(hn::Mul(hn::Set(d, dall * static_cast<float>(sc[is + 2])), q2), d, out + 32 + l);
        hn::StoreU(hn::Mul(hn::Set(d, dall * static_cast<float>(sc[is + 4])), q3), d, out + 64 + l);
        hn::StoreU(hn::Mul(hn::Set(d, dall * static_cast<float>(sc[is + 6])), q4), d, out + 96 + l);
      }
    }
  }
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

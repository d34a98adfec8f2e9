// Vectorized dequantize and fp32-activation dot for the 32-element block types
// Q4_1, Q5_0, Q5_1 and IQ4_NL (the K-quants are in kernels_kquant_simd.cc),
// compiled once per SIMD target like kernels.cc, whose per-target row dispatch
// calls these directly.
//
// Dots decode quants in registers and factor the block scales out of the inner
// loop: sum_l (d*q_l + m) x_l = d * sum(q x) + m * sum(x), so each element
// costs one FMA (plus an add for types with a min). Dequantize mirrors the
// scalar reference's products operation for operation, never fused, so the two
// agree bit for bit.
#include "core/kernels_ref.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels_quant_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "core/kernels_quant_simd-inl.h"
#include "core/kernels_quant_simd.h"

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace {

// ---- 32-element blocks: Q4_1, Q5_0, Q5_1 ----------------------------------

// kLaneBit[e] = 1 << e (bit 31 as the int32 sign bit).
alignas(64) constexpr int32_t kLaneBit[32] = {
    1 << 0,  1 << 1,  1 << 2,  1 << 3,  1 << 4,  1 << 5,  1 << 6,  1 << 7,  1 << 8,  1 << 9,   1 << 10,
    1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20,  1 << 21,
    1 << 22, 1 << 23, 1 << 24, 1 << 25, 1 << 26, 1 << 27, 1 << 28, 1 << 29, 1 << 30, INT32_MIN};

// Layout of a 32-element block: fp16 d, fp16 m when kMin, 4 bytes of bit 4
// when kHigh, then 16 bytes of nibbles (element j low, j + 16 high).
template <bool kHigh, bool kMin>
struct Block32 {
  static constexpr size_t kQhAt = kMin ? 4 : 2;
  static constexpr size_t kQsAt = kQhAt + (kHigh ? 4 : 0);
  static constexpr size_t kBytes = kQsAt + 16;

  // Quants of elements [j, j + N) and [16 + j, 16 + j + N). Q5_0 (high bit,
  // no min) is centred: q - 16, exact in integers.
  static HWY_INLINE void Quants(const uint8_t* blk, size_t j, VI& lo, VI& hi) {
    const DI di;
    const VI bytes = LoadBytes(blk + kQsAt + j);
    lo = hn::And(bytes, hn::Set(di, 15));
    hi = hn::ShiftRight<4>(bytes);
    if constexpr (kHigh) {
      // Bit e of qh is bit 4 of element e: test each lane's bit against a
      // constant mask (per-lane variable shifts are slow before AVX2).
      const VI qh = hn::Set(di, static_cast<int32_t>(LoadU32(blk + kQhAt)));
      const VI k16 = hn::Set(di, 16);
      lo = hn::Or(lo, hn::IfThenElseZero(hn::TestBit(qh, hn::LoadU(di, kLaneBit + j)), k16));
      hi = hn::Or(hi, hn::IfThenElseZero(hn::TestBit(qh, hn::LoadU(di, kLaneBit + 16 + j)), k16));
      if constexpr (!kMin) {
        lo = hn::Sub(lo, hn::Set(di, 16));
        hi = hn::Sub(hi, hn::Set(di, 16));
      }
    }
  }

  static float Dot(const uint8_t* row, const float* x, size_t n) {
    const DF d;
    const size_t N = hn::Lanes(d);
    auto acc_q = hn::Zero(d), acc_m = hn::Zero(d);
    for (size_t b = 0; b < n / 32; ++b, row += kBytes, x += 32) {
      auto qx = hn::Zero(d), xs = hn::Zero(d);
      for (size_t j = 0; j < 16; j += N) {
        VI lo, hi;
        Quants(row, j, lo, hi);
        const VF xl = hn::LoadU(d, x + j);
        const VF xh = hn::LoadU(d, x + 16 + j);
        qx = hn::MulAdd(ToFloat(lo), xl, qx);
        qx = hn::MulAdd(ToFloat(hi), xh, qx);
        if constexpr (kMin) xs = hn::Add(xs, hn::Add(xl, xh));
      }
      acc_q = hn::MulAdd(hn::Set(d, LoadHalf(row)), qx, acc_q);
      if constexpr (kMin) acc_m = hn::MulAdd(hn::Set(d, LoadHalf(row + 2)), xs, acc_m);
    }
    return Sum(hn::Add(acc_q, acc_m));
  }

  static void Dequantize(const uint8_t* row, float* out, size_t n) {
    const DF d;
    const size_t N = hn::Lanes(d);
    for (size_t b = 0; b < n / 32; ++b, row += kBytes, out += 32) {
      const VF scale = hn::Set(d, LoadHalf(row));
      const VF min = hn::Set(d, kMin ? LoadHalf(row + 2) : 0.0f);
      for (size_t j = 0; j < 16; j += N) {
        VI lo, hi;
        Quants(row, j, lo, hi);
        VF ylo = hn::Mul(ToFloat(lo), scale), yhi = hn::Mul(ToFloat(hi), scale);
        if constexpr (kMin) {
          ylo = hn::Add(ylo, min);
          yhi = hn::Add(yhi, min);
        }
        hn::StoreU(ylo, d, out + j);
        hn::StoreU(yhi, d, out + 16 + j);
      }
    }
  }
};

using Q4_1 = Block32<false, true>;
using Q5_0 = Block32<true, false>;
using Q5_1 = Block32<true, true>;
static_assert(Q4_1::kBytes == sizeof(BlockQ4_1) && Q5_0::kBytes == sizeof(BlockQ5_0) &&
              Q5_1::kBytes == sizeof(BlockQ5_1));

// ---- IQ4_NL -----------------------------------------------------------------

// The 32 levels of one block as int8, element order. One byte shuffle maps 16
// nibbles through the 16-entry table; the scalar target has no 16-byte vectors.
HWY_INLINE void Iq4nlLevels(const uint8_t* qs, int8_t* levels) {
#if HWY_TARGET == HWY_SCALAR
  for (int j = 0; j < 16; ++j) {
    levels[j] = kIq4nlValues[qs[j] & 0xF];
    levels[j + 16] = kIq4nlValues[qs[j] >> 4];
  }
#else
  const hn::Full128<uint8_t> du8;
  const hn::Full128<int8_t> di8;
  const auto table = hn::LoadU(di8, kIq4nlValues);
  const auto bytes = hn::LoadU(du8, qs);
  const auto lo = hn::BitCast(di8, hn::And(bytes, hn::Set(du8, 15)));
  const auto hi = hn::BitCast(di8, hn::ShiftRight<4>(bytes));
  hn::StoreU(hn::TableLookupBytes(table, lo), di8, levels);
  hn::StoreU(hn::TableLookupBytes(table, hi), di8, levels + 16);
#endif
}

HWY_INLINE VF LevelsAt(const int8_t* levels) {
  return ToFloat(hn::PromoteTo(DI(), hn::LoadU(hn::Rebind<int8_t, DF>(), levels)));
}

}  // namespace

float DotQ4_1(const uint8_t* row, const float* x, size_t n) { return Q4_1::Dot(row, x, n); }
float DotQ5_0(const uint8_t* row, const float* x, size_t n) { return Q5_0::Dot(row, x, n); }
float DotQ5_1(const uint8_t* row, const float* x, size_t n) { return Q5_1::Dot(row, x, n); }
void DequantizeQ4_1(const uint8_t* row, float* out, size_t n) { Q4_1::Dequantize(row, out, n); }
void DequantizeQ5_0(const uint8_t* row, float* out, size_t n) { Q5_0::Dequantize(row, out, n); }
void DequantizeQ5_1(const uint8_t* row, float* out, size_t n) { Q5_1::Dequantize(row, out, n); }

float DotIQ4_NL(const uint8_t* row, const float* x, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  auto acc = hn::Zero(d);
  alignas(16) int8_t levels[32];
  for (size_t b = 0; b < n / 32; ++b, row += sizeof(BlockIQ4_NL), x += 32) {
    Iq4nlLevels(row + 2, levels);
    auto qx = hn::Zero(d);
    for (size_t j = 0; j < 32; j += N) qx = hn::MulAdd(LevelsAt(levels + j), hn::LoadU(d, x + j), qx);
    acc = hn::MulAdd(hn::Set(d, LoadHalf(row)), qx, acc);
  }
  return Sum(acc);
}

void DequantizeIQ4_NL(const uint8_t* row, float* out, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  alignas(16) int8_t levels[32];
  for (size_t b = 0; b < n / 32; ++b, row += sizeof(BlockIQ4_NL), out += 32) {
    Iq4nlLevels(row + 2, levels);
    const VF scale = hn::Set(d, LoadHalf(row));
    for (size_t j = 0; j < 32; j += N) hn::StoreU(hn::Mul(scale, LevelsAt(levels + j)), d, out + j);
  }
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

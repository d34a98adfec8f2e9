// Vectorized PQ scan and selection loops, compiled once per SIMD target
// (Highway foreach_target) and dispatched at run time; never -march=native.
#include "pq/scan_simd.h"

#include <algorithm>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "pq/scan_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/cache_control.h>
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace kvforge::pq::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Per lane: the field's byte offset gathers 4 bytes, a variable shift and a
// mask leave the field, and a second gather reads the table.
void ScanField(const uint8_t* data, size_t begin, size_t end, int stride_bits, int offset_bits, int width,
               const float* table, bool add, float* out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::RebindToUnsigned<decltype(df)> du;
  const size_t N = hn::Lanes(df);
  const uint32_t field_mask = (1u << width) - 1u;
  const auto mask = hn::Set(du, field_mask);
  const auto seven = hn::Set(du, 7u);
  const auto stride = hn::Set(du, static_cast<uint32_t>(stride_bits));
  const auto offset = hn::Set(du, static_cast<uint32_t>(offset_bits));
  const auto lanes = hn::Iota(du, 0);
  const int32_t* base = reinterpret_cast<const int32_t*>(data);
  size_t i = begin;
  for (; i + N <= end; i += N) {
    const auto pos = hn::Add(hn::Add(hn::Set(du, static_cast<uint32_t>(i)), lanes) * stride, offset);
    const auto bytes = hn::BitCast(du, hn::GatherOffset(di, base, hn::BitCast(di, hn::ShiftRight<3>(pos))));
    const auto field = hn::And(bytes >> hn::And(pos, seven), mask);
    auto v = hn::GatherIndex(df, table, hn::BitCast(di, field));
    float* o = out + (i - begin);
    if (add) v = hn::Add(v, hn::LoadU(df, o));
    hn::StoreU(v, df, o);
  }
  for (; i < end; ++i) {
    const size_t pos = i * static_cast<size_t>(stride_bits) + static_cast<size_t>(offset_bits);
    uint32_t v;
    std::memcpy(&v, data + (pos >> 3), 4);
    const float t = table[(v >> (pos & 7)) & field_mask];
    out[i - begin] = add ? out[i - begin] + t : t;
  }
}

// A block row is 32 bytes: one 256-bit register (two 128-bit halves on
// 128-bit targets). Byte shuffles look the 16-entry tables up within each
// 128-bit lane; sums go to 16-bit lanes without widening: a 16-bit add of the
// looked-up bytes sums even vectors plus odd ones * 256 (mod 2^16), a second
// accumulator sums the odd ones (shifted down), and even = first - odd * 256.
void ScanNibbles(const uint8_t* blocks, size_t rows, const uint8_t* luts, size_t n_tables, const float* steps,
                 const float* biases, size_t begin, size_t end, float* out, size_t out_stride) {
  const size_t lut_bytes = rows * 32;
#if HWY_TARGET == HWY_SCALAR  // one-lane vectors cannot hold a 16-entry table
  for (size_t g = 0; g < n_tables; ++g) {
    const uint8_t* lut = luts + g * lut_bytes;
    for (size_t i = begin; i < end; ++i) {
      const size_t t = i % 32;
      const uint8_t* row = blocks + (i / 32) * rows * 32 + (t < 16 ? 2 * t : 2 * (t - 16) + 1);
      uint32_t sum = 0;
      for (size_t r = 0; r < rows; ++r) sum += lut[r * 32 + (row[r * 32] & 15u)] + lut[r * 32 + 16 + (row[r * 32] >> 4)];
      out[g * out_stride + i - begin] = biases[g] + steps[g] * static_cast<float>(sum);
    }
  }
#else
  const hn::CappedTag<uint8_t, 32> d8;
  const hn::Repartition<uint16_t, decltype(d8)> d16;
  const size_t N = hn::Lanes(d8);
  const auto nibble = hn::Set(d8, uint8_t{0x0F});
  HWY_ALIGN uint16_t even[16], odd[16];
  // Block by block, every table over the block: its codes are read from
  // memory once and from L1 for the other tables.
  for (size_t b = begin / 32; b * 32 < end; ++b) {
    const uint8_t* block = blocks + b * rows * 32;
    // Codes stream from memory: ask for the block after next while this one is
    // scanned (the hardware prefetcher alone leaves the scan waiting on loads).
    if ((b + 2) * 32 < end) {
      const uint8_t* ahead = block + 2 * rows * 32;
      for (size_t off = 0; off < rows * 32; off += 64) hwy::Prefetch(ahead + off);
    }
    for (size_t g = 0; g < n_tables; ++g) {
      const uint8_t* lut = luts + g * lut_bytes;
      float* dst_g = out + g * out_stride;
      for (size_t half = 0; half < 32; half += N) {
        auto sum0 = hn::Zero(d16), sum1 = hn::Zero(d16), odd0 = hn::Zero(d16), odd1 = hn::Zero(d16);
        for (size_t r = 0; r < rows; ++r) {
          const auto v = hn::LoadU(d8, block + r * 32 + half);
          const auto lo = hn::And(v, nibble);
          const auto hi = hn::And(hn::BitCast(d8, hn::ShiftRight<4>(hn::BitCast(d16, v))), nibble);
          const auto w0 = hn::BitCast(d16, hn::TableLookupBytes(hn::LoadDup128(d8, lut + r * 32), lo));
          const auto w1 = hn::BitCast(d16, hn::TableLookupBytes(hn::LoadDup128(d8, lut + r * 32 + 16), hi));
          sum0 = hn::Add(sum0, w0);
          sum1 = hn::Add(sum1, w1);
          odd0 = hn::Add(odd0, hn::ShiftRight<8>(w0));
          odd1 = hn::Add(odd1, hn::ShiftRight<8>(w1));
        }
        const auto o = hn::Add(odd0, odd1);
        hn::Store(hn::Sub(hn::Add(sum0, sum1), hn::ShiftLeft<8>(o)), d16, even);
        hn::Store(o, d16, odd);
        // Byte 2u of a row holds vector u, byte 2u + 1 vector 16 + u: the even
        // sums are vectors [half / 2, half / 2 + N / 2), the odd ones 16 on.
        const float step = steps[g], bias = biases[g];
        const size_t first_even = b * 32 + half / 2, first_odd = first_even + 16;
        if (b * 32 >= begin && b * 32 + 32 <= end) {
          float* de = dst_g + (first_even - begin);
          float* dd = dst_g + (first_odd - begin);
          for (size_t u = 0; u < N / 2; ++u) de[u] = bias + step * static_cast<float>(even[u]);
          for (size_t u = 0; u < N / 2; ++u) dd[u] = bias + step * static_cast<float>(odd[u]);
        } else {
          for (size_t u = 0; u < N / 2; ++u) {
            if (first_even + u >= begin && first_even + u < end) dst_g[first_even + u - begin] = bias + step * static_cast<float>(even[u]);
            if (first_odd + u >= begin && first_odd + u < end) dst_g[first_odd + u - begin] = bias + step * static_cast<float>(odd[u]);
          }
        }
      }
    }
  }
#endif
}

void MinMax(const float* s, size_t n, float* lo, float* hi) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  float l = s[0], h = s[0];
  size_t i = 0;
  if (n >= N) {
    auto vl = hn::LoadU(d, s), vh = vl;
    for (i = N; i + N <= n; i += N) {
      const auto v = hn::LoadU(d, s + i);
      vl = hn::Min(vl, v);
      vh = hn::Max(vh, v);
    }
    l = hn::GetLane(hn::MinOfLanes(d, vl));
    h = hn::GetLane(hn::MaxOfLanes(d, vh));
  }
  for (; i < n; ++i) {
    l = std::min(l, s[i]);
    h = std::max(h, s[i]);
  }
  *lo = l;
  *hi = h;
}

void BinScores(const float* s, size_t n, float lo, float inv, int n_bins, int32_t* bins) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const size_t N = hn::Lanes(df);
  const auto vlo = hn::Set(df, lo), vinv = hn::Set(df, inv);
  const auto top = hn::Set(di, n_bins - 1);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto b = hn::ConvertTo(di, hn::Mul(hn::Sub(hn::LoadU(df, s + i), vlo), vinv));
    hn::StoreU(hn::Min(b, top), di, bins + i);
  }
  for (; i < n; ++i) bins[i] = std::min(n_bins - 1, static_cast<int32_t>((s[i] - lo) * inv));
}

size_t SplitByBin(const int32_t* bins, size_t n, int32_t t, int32_t* above, int32_t* equal, size_t* n_equal) {
  const hn::ScalableTag<int32_t> d;
  const size_t N = hn::Lanes(d);
  const auto vt = hn::Set(d, t);
  size_t na = 0, ne = 0, i = 0;
  for (; i + N <= n; i += N) {
    const auto b = hn::LoadU(d, bins + i);
    const auto idx = hn::Iota(d, static_cast<int32_t>(i));
    na += hn::CompressStore(idx, (b > vt), d, above + na);
    ne += hn::CompressStore(idx, (b == vt), d, equal + ne);
  }
  for (; i < n; ++i) {
    if (bins[i] > t) above[na++] = static_cast<int32_t>(i);
    if (bins[i] == t) equal[ne++] = static_cast<int32_t>(i);
  }
  *n_equal = ne;
  return na;
}

}  // namespace kvforge::pq::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace kvforge::pq::detail {
HWY_EXPORT(ScanField);
HWY_EXPORT(ScanNibbles);
HWY_EXPORT(MinMax);
HWY_EXPORT(BinScores);
HWY_EXPORT(SplitByBin);

void scan_field(const uint8_t* data, size_t begin, size_t end, int stride_bits, int offset_bits, int width,
                const float* table, bool add, float* out) {
  HWY_DYNAMIC_DISPATCH(ScanField)(data, begin, end, stride_bits, offset_bits, width, table, add, out);
}
void scan_nibbles(const uint8_t* blocks, size_t rows, const uint8_t* luts, size_t n_tables, const float* steps,
                  const float* biases, size_t begin, size_t end, float* out, size_t out_stride) {
  HWY_DYNAMIC_DISPATCH(ScanNibbles)(blocks, rows, luts, n_tables, steps, biases, begin, end, out, out_stride);
}
void min_max(const float* s, size_t n, float* lo, float* hi) { HWY_DYNAMIC_DISPATCH(MinMax)(s, n, lo, hi); }
void bin_scores(const float* s, size_t n, float lo, float inv, int n_bins, int32_t* bins) {
  HWY_DYNAMIC_DISPATCH(BinScores)(s, n, lo, inv, n_bins, bins);
}
size_t split_by_bin(const int32_t* bins, size_t n, int32_t t, int32_t* above, int32_t* equal, size_t* n_equal) {
  return HWY_DYNAMIC_DISPATCH(SplitByBin)(bins, n, t, above, equal, n_equal);
}
}  // namespace kvforge::pq::detail
#endif

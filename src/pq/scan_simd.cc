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

// Per vector of codes: the low and high nibbles index byte shuffles of the
// tables (within each 128-bit lane), and the looked-up bytes are summed in
// 16-bit lanes without widening: a 16-bit add sums even bytes plus odd bytes *
// 256 (mod 2^16), a second accumulator sums the odd bytes shifted down, and
// even = first - odd * 256.
template <class D8, class V16>
HWY_INLINE void AddLookups(D8 d8, const uint8_t* codes, const uint8_t* lo_lut, const uint8_t* hi_lut, V16& sum0,
                           V16& sum1, V16& odd0, V16& odd1) {
  const hn::Repartition<uint16_t, D8> d16;
  const auto nibble = hn::Set(d8, uint8_t{0x0F});
  const auto v = hn::LoadU(d8, codes);
  const auto lo = hn::And(v, nibble);
  const auto hi = hn::And(hn::BitCast(d8, hn::ShiftRight<4>(hn::BitCast(d16, v))), nibble);
  const auto w0 = hn::BitCast(d16, hn::TableLookupBytes(hn::LoadU(d8, lo_lut), lo));
  const auto w1 = hn::BitCast(d16, hn::TableLookupBytes(hn::LoadU(d8, hi_lut), hi));
  sum0 = hn::Add(sum0, w0);
  sum1 = hn::Add(sum1, w1);
  odd0 = hn::Add(odd0, hn::ShiftRight<8>(w0));
  odd1 = hn::Add(odd1, hn::ShiftRight<8>(w1));
}

// Writes block b's 32 sums (even[u], odd[u]: vectors u and 16 + u), scaled
// into scores, to the [begin, end) part of dst.
HWY_INLINE void EmitBlock(const uint16_t* even, const uint16_t* odd, size_t b, float step, float bias, size_t begin,
                          size_t end, float* dst) {
  const size_t first = b * 32;
  if (first >= begin && first + 32 <= end) {
    float* de = dst + (first - begin);
    for (size_t u = 0; u < 16; ++u) de[u] = bias + step * static_cast<float>(even[u]);
    for (size_t u = 0; u < 16; ++u) de[16 + u] = bias + step * static_cast<float>(odd[u]);
    return;
  }
  for (size_t u = 0; u < 32; ++u) {
    const size_t t = first + u;
    if (t >= begin && t < end) dst[t - begin] = bias + step * static_cast<float>(u < 16 ? even[u] : odd[u - 16]);
  }
}

#if HWY_TARGET == HWY_SCALAR  // one-lane vectors cannot hold a 16-entry table
HWY_INLINE void BlockSumsScalar(const uint8_t* block, size_t rows, const uint8_t* lo, const uint8_t* hi,
                                uint16_t* even, uint16_t* odd) {
  for (size_t t = 0; t < 32; ++t) {
    const size_t at = t < 16 ? 2 * t : 2 * (t - 16) + 1;
    uint32_t sum = 0;
    for (size_t r = 0; r < rows; ++r) {
      const uint8_t c = block[r * 32 + at];
      sum += lo[r * 32 + (c & 15u)] + hi[r * 32 + (c >> 4)];
    }
    (t < 16 ? even[t] : odd[t - 16]) = static_cast<uint16_t>(sum);
  }
}
#else
// A vector spans N / 32 rows of the same 32 vectors; the block's bytes run on
// into the next block (or the padding), where the tables are zero. Folding
// the rows' 16-lane segments gives the sums.
template <class D8>
HWY_INLINE void BlockSumsWide(D8 d8, const uint8_t* block, size_t block_bytes, const uint8_t* lo, const uint8_t* hi,
                              uint16_t* even, uint16_t* odd) {
  const hn::Repartition<uint16_t, D8> d16;
  const size_t N = hn::Lanes(d8);
  HWY_ALIGN uint16_t sums[64], odds[64];
  auto sum0 = hn::Zero(d16), sum1 = hn::Zero(d16), odd0 = hn::Zero(d16), odd1 = hn::Zero(d16);
  for (size_t off = 0; off < block_bytes; off += N) AddLookups(d8, block + off, lo + off, hi + off, sum0, sum1, odd0, odd1);
  hn::Store(hn::Add(sum0, sum1), d16, sums);
  hn::Store(hn::Add(odd0, odd1), d16, odds);
  for (size_t u = 0; u < 16; ++u) {
    uint16_t sv = sums[u], ov = odds[u];
    for (size_t seg = 16; seg < N / 2; seg += 16) {
      sv = static_cast<uint16_t>(sv + sums[seg + u]);
      ov = static_cast<uint16_t>(ov + odds[seg + u]);
    }
    odd[u] = ov;
    even[u] = static_cast<uint16_t>(sv - (ov << 8));
  }
}

// 16-byte vectors: the two halves of a row cover vectors 0-7 / 16-23 and
// 8-15 / 24-31; one accumulator set per half.
template <class D8>
HWY_INLINE void BlockSumsNarrow(D8 d8, const uint8_t* block, size_t block_bytes, const uint8_t* lo,
                                const uint8_t* hi, uint16_t* even, uint16_t* odd) {
  const hn::Repartition<uint16_t, D8> d16;
  const size_t N = hn::Lanes(d8);
  HWY_ALIGN uint16_t sums[64], odds[64];
  auto sum0 = hn::Zero(d16), sum1 = hn::Zero(d16), odd0 = hn::Zero(d16), odd1 = hn::Zero(d16);
  auto sum2 = hn::Zero(d16), sum3 = hn::Zero(d16), odd2 = hn::Zero(d16), odd3 = hn::Zero(d16);
  for (size_t off = 0; off < block_bytes; off += 32) {
    AddLookups(d8, block + off, lo + off, hi + off, sum0, sum1, odd0, odd1);
    AddLookups(d8, block + off + N, lo + off + N, hi + off + N, sum2, sum3, odd2, odd3);
  }
  hn::Store(hn::Add(sum0, sum1), d16, sums);
  hn::Store(hn::Add(sum2, sum3), d16, sums + N / 2);
  hn::Store(hn::Add(odd0, odd1), d16, odds);
  hn::Store(hn::Add(odd2, odd3), d16, odds + N / 2);
  for (size_t u = 0; u < 16; ++u) {
    odd[u] = odds[u];
    even[u] = static_cast<uint16_t>(sums[u] - (odds[u] << 8));
  }
}
#endif

void ScanNibbles(const uint8_t* blocks, size_t rows, const uint8_t* luts, size_t lut_stride, size_t n_tables,
                 const float* steps, const float* biases, size_t begin, size_t end, float* out, size_t out_stride) {
  const size_t block_bytes = rows * 32;
  // even[u], odd[u]: the sums of vectors u and 16 + u of the block.
  HWY_ALIGN uint16_t even[16], odd[16];
#if HWY_TARGET == HWY_SCALAR
  for (size_t b = begin / 32; b * 32 < end; ++b) {
    const uint8_t* block = blocks + b * block_bytes;
    for (size_t g = 0; g < n_tables; ++g) {
      const uint8_t* lo = luts + g * 2 * lut_stride;
      BlockSumsScalar(block, rows, lo, lo + lut_stride, even, odd);
      EmitBlock(even, odd, b, steps[g], biases[g], begin, end, out + g * out_stride);
    }
  }
#else
  const hn::ScalableTag<uint8_t> d8;
  const size_t N = hn::Lanes(d8);
  // Block by block, every table over the block: its codes are read from
  // memory once and from L1 for the other tables.
  for (size_t b = begin / 32; b * 32 < end; ++b) {
    const uint8_t* block = blocks + b * block_bytes;
    // Codes stream from memory: ask for the block after next while this one is
    // scanned (the hardware prefetcher alone leaves the scan waiting on loads).
    if ((b + 2) * 32 < end) {
      const uint8_t* ahead = block + 2 * block_bytes;
      for (size_t off = 0; off < block_bytes; off += 64) hwy::Prefetch(ahead + off);
    }
    for (size_t g = 0; g < n_tables; ++g) {
      const uint8_t* lo = luts + g * 2 * lut_stride;
      if (N >= 32) {
        BlockSumsWide(d8, block, block_bytes, lo, lo + lut_stride, even, odd);
      } else {
        BlockSumsNarrow(d8, block, block_bytes, lo, lo + lut_stride, even, odd);
      }
      EmitBlock(even, odd, b, steps[g], biases[g], begin, end, out + g * out_stride);
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
void scan_nibbles(const uint8_t* blocks, size_t rows, const uint8_t* luts, size_t lut_stride, size_t n_tables,
                  const float* steps, const float* biases, size_t begin, size_t end, float* out, size_t out_stride) {
  HWY_DYNAMIC_DISPATCH(ScanNibbles)(blocks, rows, luts, lut_stride, n_tables, steps, biases, begin, end, out,
                                    out_stride);
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

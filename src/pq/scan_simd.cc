// Vectorized PQ scan and selection loops, compiled once per SIMD target
// (Highway foreach_target) and dispatched at run time; never -march=native.
#include "pq/scan_simd.h"

#include <algorithm>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "pq/scan_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
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
HWY_EXPORT(MinMax);
HWY_EXPORT(BinScores);
HWY_EXPORT(SplitByBin);

void scan_field(const uint8_t* data, size_t begin, size_t end, int stride_bits, int offset_bits, int width,
                const float* table, bool add, float* out) {
  HWY_DYNAMIC_DISPATCH(ScanField)(data, begin, end, stride_bits, offset_bits, width, table, add, out);
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

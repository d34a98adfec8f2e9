// select_top_k: histogram threshold selection, nth_element on the boundary bin only.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "kvforge/pq/product_quantizer.h"
#include "pq/scan_simd.h"

namespace kvforge::pq {

void select_top_k(std::span<const float> scores, size_t k, std::vector<int32_t>* out) {
  const size_t n = scores.size();
  out->clear();
  if (k >= n) {
    out->resize(n);
    std::iota(out->begin(), out->end(), 0);
    return;
  }
  if (k == 0) return;
  const float* s = scores.data();
  float lo, hi;
  detail::min_max(s, n, &lo, &hi);
  constexpr int kBins = 2048;
  const float inv = hi > lo ? static_cast<float>(kBins) / (hi - lo) : 0.0f;
  thread_local std::vector<int32_t> bins, boundary;
  bins.resize(n);
  detail::bin_scores(s, n, lo, inv, kBins, bins.data());
  uint32_t hist[kBins] = {};
  for (size_t i = 0; i < n; ++i) ++hist[bins[i]];
  // The boundary bin: bins above it hold fewer than k scores, with it at least k.
  int t = kBins - 1;
  size_t above = 0;
  while (above + hist[t] < k) above += hist[t--];
  out->resize(n + 16);
  boundary.resize(n + 16);
  size_t n_boundary = 0;
  const size_t n_above = detail::split_by_bin(bins.data(), n, t, out->data(), boundary.data(), &n_boundary);
  KVF_CHECK(n_above == above);
  out->resize(n_above);
  const size_t need = k - above;
  auto better = [s](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); };
  const auto first = boundary.begin(), last = boundary.begin() + static_cast<std::ptrdiff_t>(n_boundary);
  if (need < n_boundary) std::nth_element(first, first + static_cast<std::ptrdiff_t>(need), last, better);
  out->insert(out->end(), first, first + static_cast<std::ptrdiff_t>(need));
}

}  // namespace kvforge::pq

// The p-quantile (p in [0, 1]) of a sample, interpolated linearly between the
// two nearest ranks (numpy's default); 0 for an empty sample. One definition
// for every latency table (bench stream's TTFT, the load tester's requests).
#pragma once

#include <algorithm>
#include <vector>

namespace kvforge::core {

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = std::clamp(p, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(idx);
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

}  // namespace kvforge::core

#include "kvforge/stream/bandwidth_estimator.h"

#include <algorithm>

namespace kvforge::stream {

BandwidthEstimator::BandwidthEstimator(double initial_bytes_per_second, size_t window)
    : initial_(initial_bytes_per_second), window_(std::max<size_t>(1, window)) {}

void BandwidthEstimator::add(double bytes, double seconds) {
  if (!(bytes > 0) || !(seconds > 0)) return;
  rates_.push_back(bytes / seconds);
  if (rates_.size() > window_) rates_.pop_front();
  ++total_;
}

double BandwidthEstimator::estimate() const {
  if (rates_.empty()) return initial_;
  double inv = 0;
  for (double r : rates_) inv += 1.0 / r;
  return static_cast<double>(rates_.size()) / inv;
}

}  // namespace kvforge::stream

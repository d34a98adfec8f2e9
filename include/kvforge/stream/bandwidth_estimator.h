// Bandwidth estimate from completed transfers (CacheGen predicts the next
// chunk's throughput from the chunks just fetched). The estimate is the
// harmonic mean of the last `window` transfers' throughputs: the harmonic mean
// is the throughput of moving equal byte counts over those links one after
// another, and one fast outlier cannot inflate it (one slow one pulls it down:
// the conservative side for a deadline).
//
// Thread-safety: not thread-safe; one fetch loop owns it.
#pragma once

#include <cstddef>
#include <deque>

namespace kvforge::stream {

class BandwidthEstimator {
 public:
  // `initial_bytes_per_second`: the answer before any transfer (> 0).
  explicit BandwidthEstimator(double initial_bytes_per_second, size_t window = 3);

  // A finished transfer of `bytes` in `seconds`; ignored when either is <= 0.
  void add(double bytes, double seconds);
  // Bytes per second.
  double estimate() const;
  size_t samples() const { return total_; }

 private:
  double initial_;
  size_t window_;
  size_t total_ = 0;
  std::deque<double> rates_;  // most recent last
};

}  // namespace kvforge::stream

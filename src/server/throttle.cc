#include "kvforge/server/throttle.h"

#include <algorithm>
#include <cmath>

namespace kvforge::server {

BandwidthFn constant_mbps(double megabits_per_second) {
  const double bps = megabits_per_second * 1e6 / 8.0;
  return [bps](double) { return bps; };
}

Link::Link(BandwidthFn fn, core::Clock& clock)
    : fn_(std::move(fn)), clock_(clock), start_(clock.now_seconds()), next_free_(start_) {}

void Link::set(BandwidthFn fn) {
  std::lock_guard lock(mu_);
  fn_ = std::move(fn);
  start_ = clock_.now_seconds();
  next_free_ = start_;
}

bool Link::throttled() const {
  std::lock_guard lock(mu_);
  return static_cast<bool>(fn_);
}

namespace {
constexpr size_t kMaxSlice = size_t{256} << 10;
constexpr size_t kMinSlice = size_t{1} << 10;
}  // namespace

size_t Link::slice_bytes() const {
  std::lock_guard lock(mu_);
  if (!fn_) return kMaxSlice;
  const double t = clock_.now_seconds() - start_;
  const double bps = fn_(t);
  if (!std::isfinite(bps) || bps <= 0) return kMinSlice;
  return std::clamp(static_cast<size_t>(bps * 0.005), kMinSlice, kMaxSlice);
}

void Link::pace(size_t bytes) {
  double until;
  {
    std::lock_guard lock(mu_);
    if (!fn_) return;
    double at = std::max(clock_.now_seconds(), next_free_);
    // Bandwidth at the moment this slice starts to leave; a paused link (<= 0)
    // is asked again every millisecond.
    double bps = 0;
    for (int i = 0; i < 100000; ++i) {
      bps = fn_(at - start_);
      if (std::isfinite(bps) && bps > 0) break;
      at += 1e-3;
    }
    if (!std::isfinite(bps) || bps <= 0) bps = 1.0;
    at += static_cast<double>(bytes) / bps;
    next_free_ = at;
    until = at;
  }
  clock_.sleep_until(until);
}

}  // namespace kvforge::server

#include "stream/fetch_bounds.h"

#include <algorithm>
#include <cmath>

namespace kvforge::stream {

namespace {

std::string rate_string(double bytes_per_second) {
  return std::to_string(static_cast<int64_t>(std::llround(bytes_per_second))) + " B/s";
}

}  // namespace

Status check_progress(const SlowRule& rule, uint64_t bytes, double seconds) {
  if (seconds < rule.grace_seconds || seconds <= 0) return Status::OK();
  const double rate = static_cast<double>(bytes) / seconds;
  if (rate < rule.min_bytes_per_second) {
    return Status::IOError(rate_string(rate) + " after " + std::to_string(std::llround(seconds * 1e3)) +
                           " ms is under the " + rate_string(rule.min_bytes_per_second) + " required");
  }
  const double rest = std::max(0.0, rule.expected_bytes - static_cast<double>(bytes));
  if (seconds + rest / rate > rule.time_left) {
    return Status::IOError("at " + rate_string(rate) + " the rest of the frame would arrive after the deadline");
  }
  return Status::OK();
}

FetchLimits fetch_limits(double time_left, uint64_t cap, const SlowRule& rule, std::shared_ptr<FetchWatch> watch) {
  FetchLimits limits;
  limits.timeout_seconds = time_left;
  limits.max_bytes = cap;
  limits.progress = [rule, watch = std::move(watch)](uint64_t bytes, double seconds) {
    Status s = check_progress(rule, bytes, seconds);
    std::lock_guard<std::mutex> lock(watch->mu);
    watch->bytes = bytes;
    watch->seconds = seconds;
    watch->slow = watch->slow || !s.ok();
    return s;
  };
  return limits;
}

std::string fallback_note(const Status& s, bool slow, bool past_deadline, bool* source_failed) {
  const std::string why = s.to_string();
  if (slow) return "too slow: " + why;
  if (past_deadline) return "deadline: " + why;
  if (s.code() == StatusCode::kResourceExhausted) return "too large: " + why;
  if (s.is_not_found()) return "missing: " + why;
  if (s.is_corruption()) return "corrupt: " + why;
  *source_failed = true;
  return "source failed: " + why;
}

}  // namespace kvforge::stream

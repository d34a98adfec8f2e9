// The bounds the loader puts on one fetch (loader.h, docs/STREAM.md): the time
// left before the deadline, the level's worst-case frame size, and the
// slow-transfer rule; and the note a failed fetch leaves in the load report.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "kvforge/core/status.h"
#include "kvforge/stream/chunk_source.h"

namespace kvforge::stream {

// The slow-transfer rule for one fetch: after `grace_seconds`, the average rate
// must stay at or above `min_bytes_per_second`, and at that rate the rest of
// `expected_bytes` must arrive within `time_left` seconds of the call.
struct SlowRule {
  double grace_seconds = 0;
  double min_bytes_per_second = 0;
  double expected_bytes = 0;
  double time_left = 0;
};

// IOError saying how when the transfer breaks `rule` after `bytes` in
// `seconds`; OK otherwise (always within the grace period).
Status check_progress(const SlowRule& rule, uint64_t bytes, double seconds);

// What the slow rule saw of one fetch, for the bandwidth estimate after a
// slow abort (the rule runs on the source's threads).
struct FetchWatch {
  std::mutex mu;
  uint64_t bytes = 0;
  double seconds = 0;
  bool slow = false;
};

// Limits for one fetch: abandoned after `time_left` seconds, at most `cap`
// bytes, and `rule` checked as it goes (recorded in `watch`; shared, since
// sources may copy the limits).
FetchLimits fetch_limits(double time_left, uint64_t cap, const SlowRule& rule, std::shared_ptr<FetchWatch> watch);

// How a failed fetch falls back, by the first cause that applies: "too slow"
// (the rule abandoned it), "deadline" (it ended past the deadline), "too large"
// (ResourceExhausted), "missing" (NotFound), "corrupt" (Corruption), else
// "source failed" (and *source_failed is set: later chunks are recomputed).
std::string fallback_note(const Status& s, bool slow, bool past_deadline, bool* source_failed);

}  // namespace kvforge::stream

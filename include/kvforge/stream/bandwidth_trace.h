// Bandwidth traces: the link's bytes/second as a function of time, for link
// emulation (ThrottledSource, the server's Link) and `kvforge bench stream`.
// Every trace is piecewise constant, built by spec through one registry:
//
//   const:mbps=800                                   a constant link
//   step:mbps=800,drop_at_ms=200,factor=4            800 Mbit/s until 200 ms, then 200
//   random:seed=1,min_mbps=50,max_mbps=2000,segment_ms=100
//       segments of segment_ms, each at a level drawn log-uniformly in
//       [min_mbps, max_mbps] (CacheGen's 0.1-10 Gbps traces, scaled), seeded:
//       the same spec gives the same trace on every machine
//
// Every trace also takes `scale=S` (multiplies the bandwidth: fits a trace to
// what this machine can move) and `offset_ms=T` (starts the trace T ms in: runs
// over different stretches of one trace). mbps = 10^6 bits per second.
//
// Thread-safety: immutable after make_trace; all methods are const.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::stream {

class BandwidthTrace {
 public:
  virtual ~BandwidthTrace() = default;
  // The spec it was made from (canonical: every key, in a fixed order).
  virtual std::string spec() const = 0;
  // Bytes per second at t seconds (t >= 0), > 0.
  double bytes_per_second(double t) const;
  // Seconds that `bytes` take when their transfer starts at t.
  double transfer_seconds(double t, double bytes) const;

 protected:
  // Bytes/second of the unscaled trace at trace time u (u >= 0), and the end of
  // the constant piece holding u (> u; +inf for the last piece).
  virtual double rate_at(double u) const = 0;
  virtual double piece_end(double u) const = 0;
  double scale_ = 1;
  double offset_s_ = 0;
  friend Result<std::unique_ptr<BandwidthTrace>> make_trace(std::string_view spec);
};

// InvalidArgument naming the spec for an unknown name (listing trace_names()),
// an unknown key (listing the valid ones), or a bad value (non-numeric,
// non-positive rate, min > max, factor < 1 ...).
Result<std::unique_ptr<BandwidthTrace>> make_trace(std::string_view spec);
// "const", "step", "random".
std::vector<std::string> trace_names();

}  // namespace kvforge::stream

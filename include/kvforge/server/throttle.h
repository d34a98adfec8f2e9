// Link emulation: the server paces the bytes of chunk responses by a bandwidth
// that is a function of time, so tests and benchmarks see a link of a chosen
// speed on loopback. One Link is shared by every response of a server (a single
// emulated pipe): concurrent responses split its bandwidth.
//
// A bandwidth trace (constant, a step drop, a random walk: src/stream/) plugs in
// as a BandwidthFn. Thread-safety: Link is thread-safe; the function it holds is
// called under its lock, from server threads.
#pragma once
#include <cstddef>
#include <functional>
#include <mutex>

#include "kvforge/core/env.h"

namespace kvforge::server {

// Bytes per second at `t_seconds` since the link was (re)started; <= 0 or
// non-finite pauses the link for a short while (it asks again 1 ms later).
using BandwidthFn = std::function<double(double t_seconds)>;

// A constant link of `megabits_per_second` (10^6 bits).
BandwidthFn constant_mbps(double megabits_per_second);

class Link {
 public:
  // An empty function means unthrottled. `clock` (not owned) paces the bytes:
  // the real one, or a VirtualClock in tests.
  explicit Link(BandwidthFn fn = {}, core::Clock& clock = *core::Env::Default());
  // Replaces the trace; its time 0 is now. Responses in flight follow it from
  // their next slice.
  void set(BandwidthFn fn);
  bool throttled() const;
  // Bytes to write per slice (about 5 ms of the current bandwidth, 1 KiB..256 KiB);
  // unthrottled: 256 KiB.
  size_t slice_bytes() const;
  // Reserves the link for `bytes` and sleeps until they would have left it.
  // Returns at once when unthrottled.
  void pace(size_t bytes);

 private:
  mutable std::mutex mu_;
  BandwidthFn fn_;
  core::Clock& clock_;
  double start_;      // clock_.now_seconds() at (re)start
  double next_free_;  // when the link finishes what was reserved
};

}  // namespace kvforge::server

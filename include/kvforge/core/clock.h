// The one clock interface. Everything that decides by time (streaming plans,
// link pacing, store use-stamps) asks a Clock, so a test can hand it a
// VirtualClock and get the same decisions on every run. Stopwatches that only
// measure (benchmarks, progress lines) read std::chrono directly.
//
// The real clock is core::Env::Default() (an Env is a Clock; env.h).
// Thread-safety: implementations may be used from several threads.
#pragma once

#include <atomic>
#include <cstdint>

namespace kvforge::core {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock microseconds since the Unix epoch: stamps that outlive the
  // process or are compared across machines (file mtimes, Redis). May jump.
  virtual int64_t now_micros() = 0;
  // Monotonic seconds since an arbitrary origin: intervals, deadlines, pacing.
  virtual double now_seconds() = 0;
  // Returns once now_seconds() >= t (at once when t is past).
  virtual void sleep_until(double t) = 0;
  // True for a clock whose time moves only by sleep_until (work costs no time).
  virtual bool is_virtual() const { return false; }
};

// Starts at `start` seconds; sleep_until(t) sets the time to max(now, t) and
// returns at once. now_micros() reads the same time (epoch = time 0).
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(double start = 0) : now_(start) {}
  int64_t now_micros() override { return static_cast<int64_t>(now_.load() * 1e6); }
  double now_seconds() override { return now_.load(); }
  void sleep_until(double t) override;
  bool is_virtual() const override { return true; }
  void advance(double seconds) { sleep_until(now_seconds() + seconds); }

 private:
  std::atomic<double> now_;
};

}  // namespace kvforge::core

// Time for the streaming client: a real monotonic clock, and a virtual one for
// tests, where sleeping only advances the time (so planner tests are fast and
// deterministic). Seconds as double since an arbitrary origin.
//
// Thread-safety: both clocks may be used from several threads.
#pragma once

#include <atomic>
#include <memory>

namespace kvforge::stream {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() = 0;
  // Returns once now() >= t (at once when t is past).
  virtual void sleep_until(double t) = 0;
  // True for a clock whose time moves only by sleep_until (work costs no time).
  virtual bool is_virtual() const { return false; }
};

// std::chrono::steady_clock; sleep_until really sleeps.
class RealClock final : public Clock {
 public:
  double now() override;
  void sleep_until(double t) override;
};

// Starts at `start`; sleep_until(t) sets the time to max(now, t) and returns.
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(double start = 0) : now_(start) {}
  double now() override { return now_.load(); }
  void sleep_until(double t) override;
  bool is_virtual() const override { return true; }
  void advance(double seconds) { sleep_until(now() + seconds); }

 private:
  std::atomic<double> now_;
};

// A process-wide RealClock.
Clock& real_clock();

}  // namespace kvforge::stream

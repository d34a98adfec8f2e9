#include "kvforge/stream/clock.h"

#include <chrono>
#include <thread>

namespace kvforge::stream {

double RealClock::now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void RealClock::sleep_until(double t) {
  const double dt = t - now();
  if (dt > 0) std::this_thread::sleep_for(std::chrono::duration<double>(dt));
}

void VirtualClock::sleep_until(double t) {
  double cur = now_.load();
  while (t > cur && !now_.compare_exchange_weak(cur, t)) {
  }
}

Clock& real_clock() {
  static RealClock clock;
  return clock;
}

}  // namespace kvforge::stream

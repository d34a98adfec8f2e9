#include "kvforge/core/clock.h"

namespace kvforge::core {

void VirtualClock::sleep_until(double t) {
  double cur = now_.load();
  while (t > cur && !now_.compare_exchange_weak(cur, t)) {
  }
}

}  // namespace kvforge::core

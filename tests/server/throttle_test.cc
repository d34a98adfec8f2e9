// Link pacing on a VirtualClock: the emulated link's arithmetic, exactly and
// without sleeping (the server test checks the real clock's lower bound).
#include "kvforge/server/throttle.h"

#include <gtest/gtest.h>

namespace kvforge::server {
namespace {

TEST(Link, PacesBytesOverBandwidthOnAVirtualClock) {
  core::VirtualClock clock(100);
  Link link(constant_mbps(8), clock);  // 1e6 bytes per second
  EXPECT_TRUE(link.throttled());
  EXPECT_EQ(link.slice_bytes(), 5000u);  // 5 ms worth
  link.pace(250000);
  EXPECT_DOUBLE_EQ(clock.now_seconds(), 100.25);
  link.pace(500000);  // reserved after the first: back to back
  EXPECT_DOUBLE_EQ(clock.now_seconds(), 100.75);
}

TEST(Link, FollowsTheTraceFromItsRestart) {
  core::VirtualClock clock(0);
  // 1e6 B/s for the first second, then 2e6 B/s.
  Link link([](double t) { return t < 1 ? 1e6 : 2e6; }, clock);
  link.pace(1000000);
  EXPECT_DOUBLE_EQ(clock.now_seconds(), 1);
  link.pace(1000000);  // starts at t = 1: the faster rate
  EXPECT_DOUBLE_EQ(clock.now_seconds(), 1.5);
  link.set(constant_mbps(80));  // 1e7 B/s, time 0 is now
  link.pace(1000000);
  EXPECT_DOUBLE_EQ(clock.now_seconds(), 1.6);
}

TEST(Link, UnthrottledDoesNotWait) {
  core::VirtualClock clock(5);
  Link link({}, clock);
  EXPECT_FALSE(link.throttled());
  link.pace(1 << 30);
  EXPECT_EQ(clock.now_seconds(), 5);
}

}  // namespace
}  // namespace kvforge::server

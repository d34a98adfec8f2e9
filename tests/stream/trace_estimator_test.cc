// Bandwidth traces (specs, shapes, transfer times) and the bandwidth estimator.
#include <gtest/gtest.h>

#include <cmath>

#include "kvforge/stream/bandwidth_estimator.h"
#include "kvforge/stream/bandwidth_trace.h"
#include "kvforge/core/env.h"

namespace kvforge::stream {
namespace {

std::unique_ptr<BandwidthTrace> trace(const std::string& spec) {
  auto t = make_trace(spec);
  EXPECT_TRUE(t.ok()) << spec << ": " << t.status().to_string();
  return t.ok() ? std::move(*t) : nullptr;
}

TEST(Trace, ConstantRateAndTransfer) {
  auto t = trace("const:mbps=800");
  EXPECT_DOUBLE_EQ(t->bytes_per_second(0), 100e6);
  EXPECT_DOUBLE_EQ(t->bytes_per_second(5), 100e6);
  EXPECT_NEAR(t->transfer_seconds(1.0, 50e6), 0.5, 1e-12);
  EXPECT_EQ(trace(t->spec())->spec(), t->spec());  // canonical specs round-trip
}

TEST(Trace, StepDropsByFactorAndTransferSpansTheDrop) {
  auto t = trace("step:mbps=800,drop_at_ms=200,factor=4");
  EXPECT_DOUBLE_EQ(t->bytes_per_second(0.1), 100e6);
  EXPECT_DOUBLE_EQ(t->bytes_per_second(0.3), 25e6);
  // 0.1 s at 100 MB/s moves 10 MB; the other 10 MB at 25 MB/s take 0.4 s.
  EXPECT_NEAR(t->transfer_seconds(0.1, 20e6), 0.5, 1e-12);
}

TEST(Trace, ScaleAndOffset) {
  auto t = trace("step:mbps=800,drop_at_ms=200,factor=4,scale=0.5,offset_ms=300");
  EXPECT_DOUBLE_EQ(t->bytes_per_second(0), 12.5e6);  // already past the drop, halved
}

TEST(Trace, RandomIsSeededPiecewiseConstantAndInRange) {
  auto a = trace("random:seed=1,min_mbps=50,max_mbps=2000,segment_ms=100");
  auto b = trace("random:seed=1,min_mbps=50,max_mbps=2000,segment_ms=100");
  auto c = trace("random:seed=2,min_mbps=50,max_mbps=2000,segment_ms=100");
  int differ = 0;
  double lo = 1e300, hi = 0;
  for (int s = 0; s < 400; ++s) {
    const double t = s * 0.1 + 0.05;
    EXPECT_EQ(a->bytes_per_second(t), b->bytes_per_second(t));
    EXPECT_EQ(a->bytes_per_second(t), a->bytes_per_second(s * 0.1 + 0.01));  // constant within a segment
    differ += a->bytes_per_second(t) != c->bytes_per_second(t);
    lo = std::min(lo, a->bytes_per_second(t));
    hi = std::max(hi, a->bytes_per_second(t));
  }
  EXPECT_GT(differ, 390);
  EXPECT_GE(lo, 50e6 / 8 * (1 - 1e-12));
  EXPECT_LE(hi, 2000e6 / 8 * (1 + 1e-12));
  EXPECT_LT(lo, 100e6 / 8);  // log-uniform: reaches both ends of the range
  EXPECT_GT(hi, 1000e6 / 8);
  // A transfer over many segments equals the sum of its pieces.
  double bytes = 0;
  for (int s = 0; s < 10; ++s) bytes += a->bytes_per_second(s * 0.1 + 0.05) * 0.1;
  EXPECT_NEAR(a->transfer_seconds(0, bytes), 1.0, 1e-9);
}

TEST(Trace, TransfersStartingOnSegmentBoundariesEnd) {
  // Regression: a transfer starting where floor(u / segment) rounds down used to
  // loop forever (the piece ended where it began).
  auto t = trace("random:seed=2,min_mbps=19,max_mbps=1919,segment_ms=104.9254");
  for (int k = 0; k < 2000; ++k) {
    const double at = k * 0.1049254;
    const double s = t->transfer_seconds(at, 1e5);
    EXPECT_GT(s, 0);
    EXPECT_LT(s, 1e5 / (19e6 / 8) + 1e-9);
  }
}

TEST(Trace, BadSpecsAreInvalidArgument) {
  for (const char* spec : {"", "nope", "nope:mbps=1", "const:mbps=0", "const:mbps=-5", "const:mbps=abc",
                           "const:speed=5", "const:mbps", "step:factor=0.5", "step:drop_at_ms=-1",
                           "random:min_mbps=10,max_mbps=5", "random:seed=1.5", "random:segment_ms=0",
                           "const:mbps=1,scale=0", "const:mbps=1,offset_ms=-1"}) {
    auto t = make_trace(spec);
    ASSERT_FALSE(t.ok()) << spec;
    EXPECT_TRUE(t.status().is_invalid_argument()) << spec << ": " << t.status().to_string();
  }
  auto t = make_trace("nope");
  EXPECT_NE(t.status().to_string().find("const, step, random"), std::string::npos) << t.status().to_string();
  t = make_trace("const:speed=5");
  EXPECT_NE(t.status().to_string().find("mbps"), std::string::npos) << t.status().to_string();
  EXPECT_EQ(trace_names(), (std::vector<std::string>{"const", "step", "random"}));
}

TEST(Estimator, InitialThenHarmonicMeanOfWindow) {
  BandwidthEstimator e(5e6, 3);
  EXPECT_DOUBLE_EQ(e.estimate(), 5e6);
  e.add(100, 1);  // 100 B/s
  EXPECT_DOUBLE_EQ(e.estimate(), 100);
  e.add(300, 1);  // harmonic mean of 100 and 300 = 150
  EXPECT_DOUBLE_EQ(e.estimate(), 150);
  e.add(0, 1);    // ignored
  e.add(10, -1);  // ignored
  EXPECT_EQ(e.samples(), 2u);
  e.add(1e9, 1);  // an outlier barely moves a harmonic mean
  EXPECT_LT(e.estimate(), 230);
  e.add(50, 1);
  e.add(50, 1);
  e.add(50, 1);  // the window forgets old transfers
  EXPECT_DOUBLE_EQ(e.estimate(), 50);
}

TEST(Clock, VirtualClockAdvancesOnlyBySleeping) {
  core::VirtualClock c(10);
  EXPECT_EQ(c.now_seconds(), 10);
  c.sleep_until(5);  // the past: no change
  EXPECT_EQ(c.now_seconds(), 10);
  c.sleep_until(12.5);
  EXPECT_EQ(c.now_seconds(), 12.5);
  c.advance(1);
  EXPECT_EQ(c.now_seconds(), 13.5);
  EXPECT_TRUE(c.is_virtual());
  EXPECT_FALSE(core::Env::Default()->is_virtual());
}

}  // namespace
}  // namespace kvforge::stream

// Planner decisions from its cost model (no clock at all) .
#include <gtest/gtest.h>

#include <algorithm>

#include "kvforge/stream/planner.h"

namespace kvforge::stream {
namespace {

// Three levels, best first: 1000, 400, 100 bytes per token; decode 1 us/token;
// recompute 100 us/token. 8 chunks of 100 tokens, all stored.
PlannerConfig config(double deadline) {
  PlannerConfig c;
  c.levels = {{"cachegen:level=1", 1000, 1e-6}, {"cachegen:level=3", 400, 1e-6}, {"cachegen:level=5", 100, 1e-6}};
  c.prefill_seconds_per_token = 1e-4;
  c.deadline_seconds = deadline;
  c.quality_slack = 1e9;  // CacheGen's rule: the deadline alone bounds quality
  return c;
}

std::vector<size_t> chunks(size_t n, size_t tokens = 100) { return std::vector<size_t>(n, tokens); }

// Decides every chunk with the given bandwidth, fetches taking exactly as
// predicted; returns the levels chosen.
std::vector<int> run(Planner& p, size_t n, double bw, std::vector<Decision>* out = nullptr) {
  std::vector<int> levels;
  double now = 0;
  for (size_t i = 0; i < n; ++i) {
    Decision d = p.decide(i, now, bw);
    levels.push_back(d.level);
    if (out) out->push_back(d);
    if (d.level >= 0) {
      now += d.predicted_fetch_seconds;
      p.on_fetched(i, now, p.config().levels[static_cast<size_t>(d.level)].bytes_per_token * 100);
    }
  }
  return levels;
}

TEST(Planner, HighBandwidthTakesTheBestLevel) {
  Planner p(config(0.1), chunks(8), 8);
  EXPECT_EQ(run(p, 8, 1e9), std::vector<int>(8, 0));
}

TEST(Planner, TtftFirstTakesTheFastestOptionUnlessABetterOneIsNearlyAsFast) {
  // 1 GB/s: the first chunk finishes after 0.1 ms fetch + 0.1 ms decode at
  // level 1, 0.01 + 0.1 ms at level 5: with 10% slack level 5 is taken. Later
  // fetches hide behind the previous chunk's decode, every level finishes at
  // the same time, and the best one is free.
  PlannerConfig c = config(0.1);
  c.quality_slack = 0.1;
  Planner p(c, chunks(8), 8);
  std::vector<int> want(8, 0);
  want[0] = 2;
  EXPECT_EQ(run(p, 8, 1e9), want);
  // Decode dominating (1 ms/token for every level): fetch differences vanish
  // within the slack, so the best level is taken.
  PlannerConfig slow = c;
  for (LevelCost& l : slow.levels) l.decode_seconds_per_token = 1e-3;
  slow.prefill_seconds_per_token = 1e-2;
  slow.deadline_seconds = 10;
  Planner q(slow, chunks(8), 8);
  EXPECT_EQ(run(q, 8, 1e9), std::vector<int>(8, 0));
}

TEST(Planner, VeryLowBandwidthRecomputes) {
  // 100 B/s: even the smallest level takes 100 s per chunk; recompute 10 ms.
  Planner p(config(0.1), chunks(8), 8);
  EXPECT_EQ(run(p, 8, 100), std::vector<int>(8, -1));
}

TEST(Planner, MiddleBandwidthTakesAMiddleLevel) {
  // 10 MB/s: level 1 = 10 ms/chunk (80 ms > 50 ms), level 3 = 4 ms (32 ms fits).
  Planner p(config(0.05), chunks(8), 8);
  const std::vector<int> got = run(p, 8, 10e6);
  // Greedy: spends slack on quality while it lasts (level 1 at 10 ms/chunk for
  // the first chunks), then steps down; every choice keeps the deadline.
  EXPECT_EQ(got.front(), 0);
  EXPECT_EQ(got.back(), 2);
  for (size_t i = 1; i < got.size(); ++i) EXPECT_GE(got[i], got[i - 1]);
}

TEST(Planner, MissingChunksAreRecomputed) {
  Planner p(config(1.0), chunks(8), 3);
  const std::vector<int> got = run(p, 8, 1e9);
  EXPECT_EQ(got, (std::vector<int>{0, 0, 0, -1, -1, -1, -1, -1}));
}

TEST(Planner, InfeasibleDeadlineIsBestEffortAndReported) {
  // 0.5 ms for 8 chunks: decoding alone takes 0.8 ms; each chunk takes the
  // earliest finish.
  Planner p(config(0.0005), chunks(8), 8);
  std::vector<Decision> ds;
  const std::vector<int> got = run(p, 8, 1e9, &ds);
  for (const Decision& d : ds) EXPECT_FALSE(d.feasible);
  // Chunk 0: the smallest level arrives first. Later the decoder is the
  // bottleneck, every level finishes together, and the tie goes to quality.
  EXPECT_EQ(got[0], 2);
}

TEST(Planner, LateFetchesPushLaterChunksDown) {
  // The first chunks arrive 10x later than predicted: the rest must go smaller.
  Planner p(config(0.05), chunks(8), 8);
  double now = 0;
  std::vector<int> got;
  for (size_t i = 0; i < 8; ++i) {
    Decision d = p.decide(i, now, 10e6);
    got.push_back(d.level);
    if (d.level >= 0) {
      now += d.predicted_fetch_seconds * (i < 2 ? 10 : 1);
      p.on_fetched(i, now, 0);
    }
  }
  EXPECT_EQ(got[0], 0);
  EXPECT_GE(got[2], 1);
  EXPECT_EQ(got.back(), 2);
}

TEST(Planner, RecomputesWhenNoFetchFitsThenFetchesBehindTheRecompute) {
  // 1 MB/s with a 20 ms rtt: the smallest level takes 30 ms per chunk, recompute
  // 10 ms. For chunk 0 only recompute keeps 90 ms; once the model is busy
  // recomputing, fetching a later chunk overlaps with it and fits.
  PlannerConfig c = config(0.09);
  c.rtt_seconds = 0.02;
  Planner p(c, chunks(8), 8);
  std::vector<Decision> ds;
  const std::vector<int> got = run(p, 8, 1e6, &ds);
  EXPECT_EQ(got[0], -1);
  EXPECT_NE(std::count(got.begin(), got.end(), 2), 0);
  for (const Decision& d : ds) EXPECT_TRUE(d.feasible);
}

}  // namespace
}  // namespace kvforge::stream

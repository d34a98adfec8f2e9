// Each policy's choice on hand-made attention rows, worked out by hand in the
// comments (SnapKV and RoCo in policy_snapkv_test.cc, policy_roco_test.cc).
// Shape: 1 layer, 2 query heads, 1 kv head (GQA group of 2) unless said
// otherwise; the two heads get different rows, and the policies must use
// their average.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "evict/policy_fixture.h"

namespace kvforge::evict {
namespace {

using kvforge::evict::testing::Fixture;
using kvforge::evict::testing::Row;
using kvforge::evict::testing::V;

// ---------------------------------------------------------------- full

TEST(FullPolicy, NeverEvicts) {
  Fixture f("full", 8);
  EXPECT_FALSE(f.policy->needs_attention());
  EXPECT_TRUE(f.policy->unbounded());
  EXPECT_EQ(f.policy->min_keep(Phase::kPrefill, 0), 0u);
  EXPECT_EQ(f.victims(0, Phase::kPrefill), V{});
  EXPECT_EQ(f.victims(3, Phase::kDecode), V{});
}

// ---------------------------------------------------------------- streaming

TEST(StreamingPolicy, KeepsFourSinksAndTheMostRecent) {
  Fixture f("streaming", 10);
  EXPECT_FALSE(f.policy->needs_attention());
  // keep 6 of 10: sinks 0..3 stay, the 4 oldest after them (4..7) go, 8 and 9 stay.
  EXPECT_EQ(f.victims(6, Phase::kPrefill), (V{4, 5, 6, 7}));
  EXPECT_EQ(f.victims(6, Phase::kDecode), (V{4, 5, 6, 7}));
  // After evicting, new tokens reuse the slots; the next eviction takes the
  // oldest non-sink survivors, 8 and 9.
  f.evict_positions({4, 5, 6, 7});
  f.append(10);
  f.append(11);
  EXPECT_EQ(f.victims(6, Phase::kDecode), (V{8, 9}));
  Status st;
  f.victims(3, Phase::kDecode, &st);
  EXPECT_TRUE(st.is_invalid_argument()) << "keep 3 < 4 sinks";
  EXPECT_EQ(f.policy->min_keep(Phase::kDecode, 100), 4u);
}

// ---------------------------------------------------------------- random

TEST(RandomPolicy, SeededUniformAmongUnprotected) {
  auto run = [](const std::string& desc) {
    Fixture f(desc, 12);
    return f.victims(8, Phase::kPrefill);
  };
  EXPECT_EQ(run("random:seed=7"), run("random:seed=7"));
  std::set<V> distinct;
  for (int seed = 1; seed <= 6; ++seed) distinct.insert(run("random:seed=" + std::to_string(seed)));
  EXPECT_GT(distinct.size(), 1u) << "the seed must matter";
  // sinks=2, recent=3: positions 0,1 and 9,10,11 are never drawn; over many
  // seeds every one of 2..8 is.
  std::set<int32_t> seen;
  for (int seed = 1; seed <= 200; ++seed) {
    for (int32_t p : run("random:sinks=2,recent=3,seed=" + std::to_string(seed))) {
      EXPECT_GE(p, 2);
      EXPECT_LE(p, 8);
      seen.insert(p);
    }
  }
  EXPECT_EQ(seen.size(), 7u);
  // Default protects the newest token.
  for (int seed = 1; seed <= 100; ++seed) {
    Fixture f("random:seed=" + std::to_string(seed), 5);
    for (int32_t p : f.victims(1, Phase::kDecode)) EXPECT_NE(p, 4);
  }
}

// ---------------------------------------------------------------- h2o

// Query at position 7 over slots 0..7:
//   head0 [.01 .02 .20 .10 .04 .14 .245 .245]
//   head1 [.01 .16 .02 .10 .20 .02 .245 .245]
//   avg   [.01 .09 .11 .10 .12 .08 .245 .245]
// Per head alone the lowest non-sink pair would be {1,4} (head0) or {2,5} (head1).
const std::vector<Row> kH2oRows = {{.01f, .02f, .20f, .10f, .04f, .14f, .245f, .245f},
                                   {.01f, .16f, .02f, .10f, .20f, .02f, .245f, .245f}};

TEST(H2oPolicy, PrefillKeepsSinksAndRecentEvictsLowestAveragedSum) {
  // sinks 1, recent floor(0.25 * (keep 6 + stride 4)) = 2 -> candidates 1..5,
  // avg .09 .11 .10 .12 .08 -> the 2 lowest: 5 (.08), 1 (.09). Position 0 has
  // the lowest score (.01) but is a sink.
  Fixture f("h2o:sinks=1,recent_ratio=0.25,stride=4", 8);
  f.query(7, kH2oRows);
  EXPECT_EQ(f.victims(6, Phase::kPrefill), (V{1, 5}));
  EXPECT_EQ(f.policy->min_keep(Phase::kPrefill, 6), 3u);
}

TEST(H2oPolicy, DecodeHasNoSinksAndAccumulates) {
  // decode: no sinks, recent floor(0.3 * 6) = 1 -> candidates 0..6; lowest
  // two: 0 (.01), 5 (.08).
  Fixture f("h2o:sinks=1,recent_ratio=0.25,stride=4", 8);
  f.query(7, kH2oRows);
  EXPECT_EQ(f.victims(6, Phase::kDecode), (V{0, 5}));
  // A second query adds [.30 .02 .02 .30 .02 .30 .02 .02] (both heads):
  // sums 0:.31 1:.11 2:.13 3:.40 4:.14 5:.38 6:.265 -> lowest two: 1, 2.
  const Row r = {.30f, .02f, .02f, .30f, .02f, .30f, .02f, .02f};
  f.query(8, {r, r});
  EXPECT_NEAR(f.stat(0, 1), .11f, 1e-6);
  EXPECT_EQ(f.victims(6, Phase::kDecode), (V{1, 2}));
}

TEST(H2oPolicy, EvictedSlotIsReusedWithZeroStatistics) {
  Fixture f("h2o", 8);
  f.query(7, kH2oRows);
  const int32_t old_slot = f.slot_of[4];
  EXPECT_NEAR(f.stat(0, 4), .12f, 1e-6);
  f.evict_positions({4});
  EXPECT_EQ(f.append(8), old_slot) << "the freed slot is reused";
  EXPECT_EQ(f.stat(0, 8), 0.0f);
  const Row r = {.125f, .125f, .125f, .125f, .125f, .125f, .125f, .125f};
  f.query(8, {r, r});
  EXPECT_NEAR(f.stat(0, 8), .125f, 1e-7) << "only the new token's attention";
}

// ---------------------------------------------------------------- tova

TEST(TovaPolicy, OnlyTheLatestQueryCounts) {
  Fixture f("tova:sinks=1,recent_ratio=0.25,stride=4", 8);
  f.query(7, kH2oRows);
  // Latest query: head0 [.30 .20 .05 .15 .10 .10 .05 .05]
  //               head1 [.30 .10 .05 .05 .20 .20 .05 .05]
  //               avg   [.30 .15 .05 .10 .15 .15 .05 .05]
  f.query(8, {{.30f, .20f, .05f, .15f, .10f, .10f, .05f, .05f}, {.30f, .10f, .05f, .05f, .20f, .20f, .05f, .05f}});
  // prefill: sinks 1 + recent 2 -> candidates 1..5 -> lowest: 2 (.05), 3 (.10).
  // (Accumulated as h2o would: 1:.24 2:.16 3:.20 4:.27 5:.23 -> {2,3} too, but
  // the first query alone would give {1,5}.)
  EXPECT_EQ(f.victims(6, Phase::kPrefill), (V{2, 3}));
  // decode: nothing protected; lowest .05 at 2, 6, 7 -> ties to the older: 2, 6.
  EXPECT_EQ(f.victims(6, Phase::kDecode), (V{2, 6}));
  EXPECT_EQ(f.policy->min_keep(Phase::kDecode, 6), 0u);
}

// ---------------------------------------------------------------- scissorhands

TEST(ScissorhandsPolicy, CountsAboveAverageWithinHistoryWindow) {
  // history 2, recent 2 (positions 6, 7 protected). 8 slots: average = 1/8.
  Fixture f("scissorhands:history=2,recent=2", 8);
  // q1 avg [.05 .05 .05 .05 .25 .25 .15 .15] -> above: 4 5 6 7
  f.query(8, {{.05f, .05f, .05f, .05f, .30f, .20f, .15f, .15f}, {.05f, .05f, .05f, .05f, .20f, .30f, .15f, .15f}});
  // q2 head0 [.05 .05 .30 .20 .20 .05 .10 .05]
  //    head1 [.05 .05 .20 .30 .00 .05 .20 .15]
  //    avg   [.05 .05 .25 .25 .10 .05 .15 .10] -> above: 2 3 6 (4: head0 alone .20 would count)
  f.query(9, {{.05f, .05f, .30f, .20f, .20f, .05f, .10f, .05f}, {.05f, .05f, .20f, .30f, .00f, .05f, .20f, .15f}});
  // q3 avg [.05 .05 .05 .30 .05 .30 .10 .10] -> above: 3 5. q1 leaves the window.
  const Row q3 = {.05f, .05f, .05f, .30f, .05f, .30f, .10f, .10f};
  f.query(10, {q3, q3});
  // Counts over q2, q3: 0:0 1:0 2:1 3:2 4:0 5:1.
  EXPECT_EQ(f.stat(0, 3), 2.0f);
  EXPECT_EQ(f.stat(0, 4), 0.0f);
  EXPECT_EQ(f.stat(0, 5), 1.0f);
  // keep 5 -> 3 victims: the zeros 0, 1, 4. (Without the window: 4:1, 5:2 ->
  // {0,1,2}.)
  EXPECT_EQ(f.victims(5, Phase::kDecode), (V{0, 1, 4}));
}

TEST(ScissorhandsPolicy, ExpiringVotesSkipReusedSlots) {
  Fixture f("scissorhands:history=2,recent=2", 8);
  const Row hot3 = {.05f, .05f, .05f, .30f, .05f, .30f, .10f, .10f};  // above: 3 5
  f.query(8, {hot3, hot3});
  f.query(9, {hot3, hot3});
  EXPECT_EQ(f.stat(0, 3), 2.0f);
  const int32_t slot = f.slot_of[3];
  f.evict_positions({3});
  EXPECT_EQ(f.append(10), slot);
  EXPECT_EQ(f.stat(0, 10), 0.0f);
  // Live (position order): 0 1 2 4 5 6 7 10. q3 votes for 10 only; the vote
  // the old occupant got from q1 leaves the window and must not touch it.
  const Row q3 = {.05f, .05f, .05f, .05f, .05f, .05f, .05f, .65f};
  f.query(11, {q3, q3});
  EXPECT_EQ(f.stat(0, 10), 1.0f);
  EXPECT_EQ(f.stat(0, 5), 1.0f);  // q1's vote expired, q2's remains
}

// ---------------------------------------------------------------- shared

TEST(Policies, ConcurrentKvHeadsKeepSeparateState) {
  // 2 kv heads, group 2: rows for kv head 1 must not leak into kv head 0.
  Fixture f("h2o", 4, PolicyShape{1, 4, 2});
  std::vector<int32_t> slots(f.head.live_slots().begin(), f.head.live_slots().end());
  const Row a = {.7f, .1f, .1f, .1f}, b = {.1f, .1f, .1f, .7f};
  f.policy->on_attention(0, 0, 0, 4, slots, a);
  f.policy->on_attention(0, 2, 1, 4, slots, b);  // interleaved, as two threads would
  f.policy->on_attention(0, 1, 0, 4, slots, a);
  f.policy->on_attention(0, 3, 1, 4, slots, b);
  auto& s = f.scored();
  EXPECT_NEAR(s.stat(0, 0, 0, slots[0]), .7f, 1e-6);
  EXPECT_NEAR(s.stat(0, 1, 0, slots[0]), .1f, 1e-6);
  EXPECT_NEAR(s.stat(0, 1, 0, slots[3]), .7f, 1e-6);
}

TEST(Policies, ResetForgetsStatistics) {
  Fixture f("roco", 4);
  const Row r = {.25f, .25f, .25f, .25f};
  f.query(4, {r, r});
  EXPECT_GT(f.stat(0, 0), 0.0f);
  f.policy->reset();
  EXPECT_EQ(f.stat(0, 0), 0.0f);
}

}  // namespace
}  // namespace kvforge::evict

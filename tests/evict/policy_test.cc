// Each policy's choice on hand-made attention rows, worked out by hand in the
// comments. Shape: 1 layer, 2 query heads, 1 kv head (GQA group of 2) unless
// said otherwise; the two heads get different rows, and the policies must use
// their average.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "evict/scored_policy.h"
#include "kvforge/evict/registry.h"

namespace kvforge::evict {
namespace {

using Row = std::vector<float>;

struct Fixture {
  std::unique_ptr<Policy> policy;
  kv::KvHead head{1};
  std::vector<int32_t> slot_of;  // position -> slot

  explicit Fixture(const std::string& description, int n_tokens, PolicyShape shape = {1, 2, 1}) {
    auto p = make_policy(description);
    EXPECT_TRUE(p.ok()) << p.status().to_string();
    policy = std::move(p).value();
    EXPECT_TRUE(policy->attach(shape).ok());
    for (int t = 0; t < n_tokens; ++t) append(t);
  }
  int32_t append(int32_t position) {
    const float x = static_cast<float>(position);
    const int32_t slot = head.append(position, &x, &x);
    if (static_cast<size_t>(position) >= slot_of.size()) slot_of.resize(static_cast<size_t>(position) + 1, -1);
    slot_of[static_cast<size_t>(position)] = slot;
    return slot;
  }
  // One query token: rows[g] is query head g's softmax over the live slots (position order).
  void query(int32_t query_position, const std::vector<Row>& rows) {
    std::vector<int32_t> slots(head.live_slots().begin(), head.live_slots().end());
    for (size_t g = 0; g < rows.size(); ++g) {
      ASSERT_EQ(rows[g].size(), slots.size());
      policy->on_attention(0, static_cast<int>(g), 0, query_position, slots, rows[g]);
    }
  }
  // Victims as positions, sorted.
  std::vector<int32_t> victims(size_t keep, Phase phase, Status* status = nullptr) {
    std::vector<int32_t> v;
    Status st = policy->select_victims(0, 0, head, keep, phase, &v);
    if (status) *status = st;
    EXPECT_TRUE(status != nullptr || st.ok()) << st.to_string();
    std::set<int32_t> unique(v.begin(), v.end());
    EXPECT_EQ(unique.size(), v.size()) << "duplicate victims";
    std::vector<int32_t> pos;
    for (int32_t s : v) {
      EXPECT_TRUE(head.is_live(s));
      pos.push_back(head.position(s));
    }
    std::sort(pos.begin(), pos.end());
    return pos;
  }
  void evict_positions(const std::vector<int32_t>& positions) {
    std::vector<int32_t> slots;
    for (int32_t p : positions) slots.push_back(slot_of[static_cast<size_t>(p)]);
    ASSERT_TRUE(head.remove(slots).ok());
    policy->on_evicted(0, 0, slots);
  }
  const detail::ScoredPolicy& scored() const { return dynamic_cast<const detail::ScoredPolicy&>(*policy); }
  float stat(int channel, int32_t position) const {
    return scored().stat(0, 0, channel, slot_of[static_cast<size_t>(position)]);
  }
};

using V = std::vector<int32_t>;

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

// ---------------------------------------------------------------- snapkv

// Window 2, kernel 3. Three queries over slots 0..7; q1 leaves the window.
// Values are dyadic so sums and averages are exact.
struct SnapFixture : Fixture {
  explicit SnapFixture(const std::string& desc) : Fixture(desc, 8) {
    const Row q1 = {0, 0, 0, .5f, .5f, 0, 0, 0};
    query(8, {q1, q1});
    // q2: head0 [.125 0 .0625 0 0 .1875 .3125 .3125]
    //     head1 [0 .125 .0625 0 0 .1875 .3125 .3125]
    //     avg   [.0625 .0625 .0625 0 0 .1875 .3125 .3125]
    const Row h0 = {.125f, 0, .0625f, 0, 0, .1875f, .3125f, .3125f};
    const Row h1 = {0, .125f, .0625f, 0, 0, .1875f, .3125f, .3125f};
    query(9, {h0, h1});
    query(10, {h1, h0});
    // Window sums over candidates 0..5: [.125 .125 .125 0 0 .375]
  }
};

TEST(SnapKvPolicy, AvgPooledObservationWindowScore) {
  SnapFixture f("snapkv:window=2,kernel=3");
  // avg pool (sum/3, padding counted): [.25 .375 .25 .125 .375 .375]/3
  // -> lowest: 3, then 0 and 2 tie -> older 0. (Without pooling: {3,4}; with
  // the padding not counted, 0 would score .25/2 > .25/3 -> {2,3}; with q1
  // still in the window: {0,1}.)
  EXPECT_EQ(f.victims(6, Phase::kPrefill), (V{0, 3}));
  EXPECT_EQ(f.policy->min_keep(Phase::kPrefill, 6), 2u);
  // A budget under twice the window shrinks the window to keep / 2 (at least 1).
  EXPECT_EQ(f.policy->min_keep(Phase::kPrefill, 3), 1u);
  Status st;
  f.victims(0, Phase::kPrefill, &st);
  EXPECT_TRUE(st.is_invalid_argument());
}

TEST(SnapKvPolicy, SmallBudgetShrinksTheObservationWindow) {
  SnapFixture f("snapkv:window=2,kernel=3");
  // keep 3 -> window 1: only q3 (= q2 with the heads swapped: the same average)
  // counts, over candidates 0..6: [.0625 .0625 .0625 0 0 .1875 .3125];
  // avg pool /3: [.125 .1875 .125 .0625 .25 .5 .5]/3 -> lowest 3, 0, 2, 1 ...
  // m = 5 victims: 3, 0, 2, 1, 4.
  EXPECT_EQ(f.victims(3, Phase::kPrefill), (V{0, 1, 2, 3, 4}));
}

TEST(SnapKvPolicy, MaxPooled) {
  SnapFixture f("snapkv:window=2,kernel=3,pool=max");
  // max pool: [.125 .125 .125 .125 .375 .375] -> ties 0..3 -> older: 0, 1.
  EXPECT_EQ(f.victims(6, Phase::kPrefill), (V{0, 1}));
}

TEST(SnapKvPolicy, DecodeFreezesPrefillScoreAndEvictsNewTokensByRecency) {
  SnapFixture f("snapkv:window=2,kernel=3");
  EXPECT_EQ(f.victims(6, Phase::kPrefill), (V{0, 3}));
  f.evict_positions({0, 3});
  for (int p = 8; p < 12; ++p) f.append(p);
  // Live: 1 2 4 5 6 7 8 9 10 11; window = {10, 11}. Frozen scores (x3):
  // 1:.375 2:.25 4:.375 5:.375, 6 and 7 (prefill window): +max; 8, 9: none.
  // keep 8 -> 8, 9 (no score, oldest first); keep 7 -> then 2.
  EXPECT_EQ(f.victims(8, Phase::kDecode), (V{8, 9}));
  EXPECT_EQ(f.victims(7, Phase::kDecode), (V{2, 8, 9}));
}

// ---------------------------------------------------------------- roco

// Two queries over slots 0..7, averaged rows (head rows = avg +- d):
//   q1 avg [.30 .02 .10 .12 .16 .10 .10 .10]
//   q2 avg [.31 .12 .11 .06 .18 .02 .10 .10]
// per slot (n = 2):  mu          sigma = |a1-a2|/2
//   1: .02 .12       .07         .05
//   2: .10 .11       .105        .005
//   3: .12 .06       .09         .03
//   4: .16 .18       .17         .01
//   5: .10 .02       .06         .04
struct RocoFixture : Fixture {
  explicit RocoFixture(const std::string& desc) : Fixture(desc, 8) {
    query(8, {{.30f, .04f, .08f, .12f, .16f, .10f, .10f, .10f}, {.30f, .00f, .12f, .12f, .16f, .10f, .10f, .10f}});
    query(9, {{.31f, .12f, .11f, .10f, .18f, .00f, .10f, .08f}, {.31f, .12f, .11f, .02f, .18f, .04f, .10f, .12f}});
  }
};

TEST(RocoPolicy, StatisticsAreOverTheGroupAverage) {
  RocoFixture f("roco:sinks=1,recent=2,stride=2,prefill_ratio=0.5");
  EXPECT_NEAR(f.stat(0, 1), .14f, 1e-6);             // S
  EXPECT_NEAR(f.stat(1, 1), .02f * .02f + .12f * .12f, 1e-6);  // Q (of the averages, not of each head)
  EXPECT_EQ(f.stat(2, 1), 2.0f);                     // n
}

TEST(RocoPolicy, PrefillSmallestSigmaThenSmallestMu) {
  // prefill: sinks 1 (pos 0), recent 2 (6, 7) -> candidates 1..5.
  // B' = keep 6 + stride 2 = 8; k = 8 - floor(0.5*8) - 1 = 3 -> smallest sigma:
  // 2 (.005), 4 (.01), 3 (.03). Evict m = 2 with smallest mu: 3 (.09), 2 (.105).
  // Slots 5 (mu .06) and 1 (mu .07) have the smallest mu but are not
  // candidates: their sigma is large.
  RocoFixture f("roco:sinks=1,recent=2,stride=2,prefill_ratio=0.5");
  EXPECT_EQ(f.victims(6, Phase::kPrefill), (V{2, 3}));
  EXPECT_EQ(f.policy->min_keep(Phase::kPrefill, 6), 3u);
}

TEST(RocoPolicy, DecodeCandidateCount) {
  // decode: no sinks, recent 2 -> candidates 0..5 (0: mu .305, sigma .005).
  // k = 6 - floor(0.3*6) = 5 -> all but the largest sigma (1, .05).
  // Smallest mu among 0,2,3,4,5: 5 (.06), 3 (.09).
  RocoFixture f("roco:sinks=1,recent=2,stride=2,prefill_ratio=0.5");
  EXPECT_EQ(f.victims(6, Phase::kDecode), (V{3, 5}));
  // decode_ratio 0.5: k = 3 -> smallest sigma 0 (.005), 2 (.005), 4 (.01)
  // -> smallest mu: 2 (.105), 4 (.17).
  RocoFixture g("roco:sinks=1,recent=2,stride=2,decode_ratio=0.5");
  EXPECT_EQ(g.victims(6, Phase::kDecode), (V{2, 4}));
}

TEST(RocoPolicy, DefaultsProtectFourSinksAndTenRecent) {
  Fixture f("roco", 20);
  EXPECT_EQ(f.policy->stride(), 8);
  EXPECT_EQ(f.policy->min_keep(Phase::kPrefill, 100), 14u);
  EXPECT_EQ(f.policy->min_keep(Phase::kDecode, 100), 10u);
  Status st;
  f.victims(13, Phase::kPrefill, &st);
  EXPECT_TRUE(st.is_invalid_argument()) << st.to_string();
  f.victims(9, Phase::kDecode, &st);
  EXPECT_TRUE(st.is_invalid_argument()) << st.to_string();
  // No attention seen: all scores 0, ties to the older -> prefill evicts the
  // oldest non-sinks 4, 5; decode the oldest 0, 1.
  EXPECT_EQ(f.victims(18, Phase::kPrefill), (V{4, 5}));
  EXPECT_EQ(f.victims(18, Phase::kDecode), (V{0, 1}));
}

TEST(RocoPolicy, ReusedSlotStartsFromZero) {
  RocoFixture f("roco:sinks=1,recent=2,stride=2");
  const int32_t slot = f.slot_of[4];
  f.evict_positions({4});
  EXPECT_EQ(f.append(8), slot);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(f.stat(c, 8), 0.0f);
  const Row r = {.125f, .125f, .125f, .125f, .125f, .125f, .125f, .125f};
  f.query(9, {r, r});
  EXPECT_EQ(f.stat(2, 8), 1.0f);
  EXPECT_NEAR(f.stat(0, 8), .125f, 1e-7);
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

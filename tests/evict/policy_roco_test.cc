// RoCo on hand-made attention rows (mean and spread of the group-averaged
// attention), worked out by hand in the comments.
#include <gtest/gtest.h>

#include <vector>

#include "evict/policy_fixture.h"

namespace kvforge::evict {
namespace {

using kvforge::evict::testing::Fixture;
using kvforge::evict::testing::Row;
using kvforge::evict::testing::V;

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

}  // namespace
}  // namespace kvforge::evict

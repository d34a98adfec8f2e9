// SnapKV on hand-made attention rows (pooled observation-window scores), worked
// out by hand in the comments.
#include <gtest/gtest.h>

#include <vector>

#include "evict/policy_fixture.h"

namespace kvforge::evict {
namespace {

using kvforge::evict::testing::Fixture;
using kvforge::evict::testing::Row;
using kvforge::evict::testing::V;

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

}  // namespace
}  // namespace kvforge::evict

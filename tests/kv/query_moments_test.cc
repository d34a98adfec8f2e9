#include "kvforge/kv/query_moments.h"

#include <gtest/gtest.h>

namespace kvforge::kv {
namespace {

TEST(QueryMoments, SelectsEveryCandidateAndAveragesPairs) {
  QueryMoments m(2, 2, 4);
  KvHead head(4);
  const std::vector<int32_t> cand = {3, 1, 7};
  std::vector<int32_t> sel;
  // Group of two query heads for (layer 1, kv head 0), two query tokens.
  const std::vector<float> q1 = {1, 3, 0, 2, /*second head*/ 1, 1, 2, 0};
  const std::vector<float> q2 = {0, 0, 0, 0, 0, 0, 0, 0};
  m.select(1, 0, 5, head, q1, cand, &sel);
  EXPECT_EQ(sel, cand);
  m.select(1, 0, 6, head, q2, cand, &sel);
  const auto w = m.key_weights();
  ASSERT_EQ(w.size(), 2u * 2 * 4);
  // Pair (0,1): head a (1+9)/2 = 5, head b (1+1)/2 = 1 -> 6 per query token, 2 tokens -> 3.
  EXPECT_FLOAT_EQ(w[(1 * 2 + 0) * 4 + 0], 3.0f);
  EXPECT_FLOAT_EQ(w[(1 * 2 + 0) * 4 + 1], 3.0f);
  // Pair (2,3): (0+4)/2 + (4+0)/2 = 4 -> 2.
  EXPECT_FLOAT_EQ(w[(1 * 2 + 0) * 4 + 2], 2.0f);
  // Unseen (layer, kv head): 0.
  EXPECT_EQ(w[0], 0.0f);
  EXPECT_EQ(w[(1 * 2 + 1) * 4], 0.0f);
}

}  // namespace
}  // namespace kvforge::kv

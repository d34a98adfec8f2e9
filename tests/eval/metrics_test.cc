#include "kvforge/eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace kvforge::eval {
namespace {

TEST(Metrics, LogProbIsStableForLargeLogits) {
  std::vector<float> l = {1000.0f, 1000.0f};
  EXPECT_NEAR(log_prob(l, 0), std::log(0.5), 1e-9);
  std::vector<float> u = {0.0f, 0.0f, 0.0f, 0.0f};
  EXPECT_NEAR(log_prob(u, 2), std::log(0.25), 1e-9);
}

TEST(Metrics, PerplexityOfUniformPredictionsIsVocabSize) {
  NllAccumulator acc;
  std::vector<float> u(10, 0.5f);
  for (int i = 0; i < 7; ++i) acc.add(u, i);
  EXPECT_EQ(acc.tokens(), 7);
  EXPECT_NEAR(acc.ppl(), 10.0, 1e-9);
}

TEST(Metrics, IdenticalRunsHaveZeroKlFullAgreementZeroDelta) {
  FidelityAccumulator acc;
  std::vector<float> a = {0.3f, 2.0f, -1.0f}, b = {1.0f, 0.0f, 0.5f};
  acc.add(a, a, 1);
  acc.add(b, b, 2);
  auto r = acc.result();
  EXPECT_EQ(r.tokens, 2);
  EXPECT_NEAR(r.kl, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.top1_agreement, 1.0);
  EXPECT_NEAR(r.delta_ppl_pct, 0.0, 1e-9);
}

TEST(Metrics, KlAgreementAndDeltaPplOnAKnownPair) {
  // p_ref = (0.5, 0.5); p_test = (0.8, 0.2) via logits log(p).
  std::vector<float> ref = {std::log(0.5f), std::log(0.5f)}, test = {std::log(0.8f), std::log(0.2f)};
  FidelityAccumulator acc;
  acc.add(ref, test, 1);
  auto r = acc.result();
  const double kl = 0.5 * std::log(0.5 / 0.8) + 0.5 * std::log(0.5 / 0.2);
  EXPECT_NEAR(r.kl, kl, 1e-6);
  EXPECT_DOUBLE_EQ(r.top1_agreement, 1.0);  // ties resolve to index 0 in both
  EXPECT_NEAR(r.delta_ppl_pct, 100.0 * (5.0 / 2.0 - 1.0), 1e-4);  // ppl 2 -> 5 on target 1
  FidelityAccumulator other;
  std::vector<float> flip = {std::log(0.2f), std::log(0.8f)};
  other.add(ref, flip, 1);
  acc.merge(other);
  EXPECT_DOUBLE_EQ(acc.result().top1_agreement, 0.5);
}

}  // namespace
}  // namespace kvforge::eval

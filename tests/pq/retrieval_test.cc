// RetrievalSelector: group combination, spec parsing, PQ against the oracle,
// new tokens, re-training (at once and in the background), short contexts.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "kvforge/core/kernels.h"
#include "kvforge/core/thread_pool.h"
#include "kvforge/pq/product_quantizer.h"
#include "kvforge/pq/retrieval.h"
#include "pq/pq_test_helpers.h"

namespace kvforge::pq {
namespace {

using kvforge::testing::brute_top_k;
using kvforge::testing::gaussian;

TEST(Retrieval, GroupCombinationSumsPerHeadSoftmax) {
  const size_t n = 5;
  std::vector<float> scores = {1, 2, 3, 0, 0, /* head 1 */ 0, 0, 0, 4, 1};
  std::vector<float> a(scores.begin(), scores.begin() + 5), b(scores.begin() + 5, scores.end());
  core::softmax_f32(a.data(), n);
  core::softmax_f32(b.data(), n);
  std::vector<float> combined(n);
  combine_group(scores.data(), 2, n, combined.data());
  for (size_t i = 0; i < n; ++i) EXPECT_NEAR(combined[i], a[i] + b[i], 1e-6);
  // A group of one ranks the scores themselves.
  std::vector<float> one = {3, 1, 2};
  std::vector<float> c1(3);
  combine_group(one.data(), 1, 3, c1.data());
  EXPECT_EQ(c1, (std::vector<float>{3, 1, 2}));
}

TEST(Retrieval, SpecParsingAndValidation) {
  auto o = parse_retrieval_spec("0.2:m=4,bits=8,sinks=4");
  ASSERT_TRUE(o.ok());
  EXPECT_DOUBLE_EQ(o->ratio, 0.2);
  EXPECT_EQ(o->m, 4);
  EXPECT_EQ(o->bits, 8);
  EXPECT_EQ(o->sinks, 4);
  EXPECT_TRUE(validate(*o, 8).ok());
  EXPECT_FALSE(validate(*o, 6).ok());  // m=4 does not divide 6
  EXPECT_FALSE(parse_retrieval_spec("x").ok());
  EXPECT_FALSE(parse_retrieval_spec("0.2:colour=red").ok());
  EXPECT_FALSE(parse_retrieval_spec("0.2:method=exact").ok());
  for (const char* bad : {"0", "1.5", "-0.1", "0.2:bits=5", "0.2:m=3"}) {
    auto p = parse_retrieval_spec(bad);
    ASSERT_TRUE(p.ok()) << bad;
    Status s = validate(*p, 8);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(RetrievalSelector::create(*p, {1, 1, 8}).ok()) << bad;
  }
  EXPECT_TRUE(validate(*parse_retrieval_spec("1"), 8).ok());
}

// A one-layer, one-kv-head cache of clustered keys: each key is one of 8
// well-separated directions plus small noise, so PQ ranks like exact scores.
struct Fixture {
  static constexpr int kDim = 16;
  kv::KvCache cache{kv::KvShape{1, 1, kDim}};
  std::vector<float> dirs = gaussian(8 * kDim, 99, 3.0f);
  std::mt19937 rng{1};
  void append(size_t n, int dir = -1) {
    auto noise = gaussian(n * kDim, rng(), 0.01f);
    std::vector<float> v(kDim, 0.5f);
    for (size_t i = 0; i < n; ++i) {
      const size_t d = dir >= 0 ? static_cast<size_t>(dir) : rng() % 8;
      std::vector<float> k(kDim);
      for (int t = 0; t < kDim; ++t) k[static_cast<size_t>(t)] = dirs[d * kDim + static_cast<size_t>(t)] + noise[i * kDim + static_cast<size_t>(t)];
      cache.head(0, 0).append(cache.next_position(), k.data(), v.data());
      cache.set_next_position(cache.next_position() + 1);
    }
  }
  std::vector<int32_t> select(RetrievalSelector& s, const std::vector<float>& q) {
    const auto& head = cache.head(0, 0);
    std::vector<int32_t> out;
    s.select(0, 0, cache.next_position() - 1, head, q, head.live_slots(), &out);
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST(Retrieval, PqSelectsWhatTheOracleSelects) {
  Fixture f;
  f.append(400);
  RetrievalOptions o = *parse_retrieval_spec("0.2:sinks=4,m=4,bits=4");
  auto pq = RetrievalSelector::create(o, f.cache.shape());
  o.method = Method::kOracle;
  auto oracle = RetrievalSelector::create(o, f.cache.shape());
  ASSERT_TRUE(pq.ok() && oracle.ok());
  ASSERT_TRUE((*pq)->build(f.cache, nullptr).ok());
  // A query along one direction: the top-k are that direction's tokens.
  std::vector<float> q(f.dirs.begin() + 2 * Fixture::kDim, f.dirs.begin() + 3 * Fixture::kDim);
  const auto a = f.select(**pq, q), b = f.select(**oracle, q);
  const BudgetSplit split = split_budget(o, 400);
  EXPECT_EQ(a.size(), 4 + split.window + split.top_k + 1);
  // The sinks, the window and the current token are always there.
  for (int32_t s : {0, 1, 2, 3, 399, 398}) EXPECT_TRUE(std::binary_search(a.begin(), a.end(), s));
  // Ties among same-direction tokens may break differently; each chosen token
  // must be as good as the oracle's worst.
  const auto& head = f.cache.head(0, 0);
  auto score = [&](int32_t s) { return core::dot_f32(q.data(), head.key(s), Fixture::kDim); };
  float worst = 1e30f;
  for (int32_t s : b) worst = std::min(worst, score(s));
  for (int32_t s : a) EXPECT_GE(score(s), worst - 0.5f);
}

TEST(Retrieval, OracleTopKEqualsBruteForceWithGroups) {
  Fixture f;
  f.append(300);
  RetrievalOptions o;
  o.method = Method::kOracle;
  o.ratio = 0.1;
  o.sinks = 2;
  auto s = RetrievalSelector::create(o, f.cache.shape());
  ASSERT_TRUE(s.ok());
  const auto q = gaussian(2 * Fixture::kDim, 5);  // a group of two query heads
  const auto got = f.select(**s, q);
  const BudgetSplit split = split_budget(o, 300);
  const size_t mid_end = 300 - 1 - split.window;
  const auto& head = f.cache.head(0, 0);
  const size_t n_mid = mid_end - 2;
  std::vector<float> scores(2 * n_mid), combined(n_mid);
  const float scale = 1.0f / std::sqrt(static_cast<float>(Fixture::kDim));
  for (size_t g = 0; g < 2; ++g)
    for (size_t i = 0; i < n_mid; ++i)
      scores[g * n_mid + i] = core::dot_f32(&q[g * Fixture::kDim], head.key(static_cast<int32_t>(2 + i)), Fixture::kDim) * scale;
  combine_group(scores.data(), 2, n_mid, combined.data());
  std::vector<int32_t> want = {0, 1};
  for (int32_t i : brute_top_k(combined, split.top_k)) want.push_back(2 + i);
  for (size_t i = mid_end; i < 300; ++i) want.push_back(static_cast<int32_t>(i));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST(Retrieval, NewlyAppendedTokensAreFound) {
  Fixture f;
  f.append(300, 0);  // every key along direction 0
  // retrain=0: the new tokens get codes by nearest centroid, never re-trained.
  const RetrievalOptions o = *parse_retrieval_spec("0.1:sinks=2,m=2,bits=6,retrain=0");
  auto s = RetrievalSelector::create(o, f.cache.shape());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->build(f.cache, nullptr).ok());
  // Five tokens along direction 5 arrive after the index was built, then enough
  // others that they leave the local window.
  const int32_t first_new = f.cache.next_position();
  f.append(5, 5);
  f.append(60, 0);
  std::vector<float> q(f.dirs.begin() + 5 * Fixture::kDim, f.dirs.begin() + 6 * Fixture::kDim);
  const auto got = f.select(**s, q);
  const BudgetSplit split = split_budget(o, f.cache.head(0, 0).size());
  ASSERT_LT(static_cast<size_t>(first_new + 5), f.cache.head(0, 0).size() - 1 - split.window);  // outside the window
  for (int32_t p = first_new; p < first_new + 5; ++p) EXPECT_TRUE(std::binary_search(got.begin(), got.end(), p)) << p;
  EXPECT_EQ((*s)->stats().selections, 1);
}

TEST(Retrieval, SmallHeadsRetrainAtOnce) {
  Fixture f;
  f.append(100, 0);
  // 311 keys x 16 dims x 64 centroids: below kSyncRetrainWork.
  auto s = RetrievalSelector::create(*parse_retrieval_spec("0.1:sinks=2,m=2,bits=6,retrain=1.5"), f.cache.shape());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->build(f.cache, nullptr).ok());
  f.append(10, 3);
  f.append(201, 0);
  std::vector<float> q(f.dirs.begin() + 3 * Fixture::kDim, f.dirs.begin() + 4 * Fixture::kDim);
  const auto got = f.select(**s, q);
  EXPECT_EQ((*s)->stats().retrains, 1);
  for (int32_t p = 100; p < 110; ++p) EXPECT_TRUE(std::binary_search(got.begin(), got.end(), p)) << p;
}

TEST(Retrieval, RetrainingRunsInTheBackgroundAndSwapsInAtAFixedLength) {
  Fixture f;
  f.append(100, 0);
  // 311 keys x 16 dims x 256 centroids: above kSyncRetrainWork.
  const RetrievalOptions o = *parse_retrieval_spec("0.1:sinks=2,m=2,bits=8,retrain=1.5");
  auto s = RetrievalSelector::create(o, f.cache.shape());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->build(f.cache, nullptr).ok());
  const size_t before = (*s)->index_bytes();
  // Tripling the context (311 visible tokens, trained on 100) starts a
  // re-training on a snapshot; its index replaces the old one at 311 +
  // ceil(0.25 * 311) = 389 tokens, not earlier, however fast the worker is.
  f.append(10, 3);
  f.append(201, 0);
  std::vector<float> q(f.dirs.begin() + 3 * Fixture::kDim, f.dirs.begin() + 4 * Fixture::kDim);
  f.select(**s, q);
  EXPECT_EQ((*s)->stats().retrains, 0);
  f.append(77, 0);
  f.select(**s, q);
  EXPECT_EQ((*s)->stats().retrains, 0);
  f.append(1, 0);
  const auto got = f.select(**s, q);
  EXPECT_EQ((*s)->stats().retrains, 1);
  EXPECT_GE((*s)->stats().retrain_wait_ms, 0.0);
  // The re-trained codebooks know direction 3: its tokens in the middle are found.
  for (int32_t p = 100; p < 110; ++p) EXPECT_TRUE(std::binary_search(got.begin(), got.end(), p)) << p;
  EXPECT_GT((*s)->index_bytes(), before);
  // A second selector fed the same way selects the same: the swap point does
  // not depend on timing.
  Fixture g;
  g.append(100, 0);
  auto t = RetrievalSelector::create(o, g.cache.shape());
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->build(g.cache, nullptr).ok());
  g.append(10, 3);
  g.append(201, 0);
  g.select(**t, q);
  g.append(78, 0);
  EXPECT_EQ(g.select(**t, q), got);
  EXPECT_FALSE(parse_retrieval_spec("0.1:retrain=1").ok() && validate(*parse_retrieval_spec("0.1:retrain=1"), 16).ok());
}

TEST(Retrieval, DestroyingASelectorWithARetrainingRunningIsSafe) {
  Fixture f;
  f.append(3000);
  auto s = RetrievalSelector::create(*parse_retrieval_spec("0.1:sinks=2,m=4,bits=8,retrain=1.1"), f.cache.shape());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->build(f.cache, nullptr).ok());
  f.append(400);
  const auto q = gaussian(Fixture::kDim, 3);
  EXPECT_FALSE(f.select(**s, q).empty());  // starts a re-training of 3400 keys at 8 bits
  s->reset();                              // destroys it while the worker trains
  SUCCEED();
}

TEST(Retrieval, ShortContextsAttendEverything) {
  Fixture f;
  f.append(12);  // ratio 0.2: a budget of 3, and 8 + 3 + 1 = 12 tokens cover everything
  RetrievalOptions o;
  o.sinks = 8;
  auto s = RetrievalSelector::create(o, f.cache.shape());
  ASSERT_TRUE(s.ok());
  const auto q = gaussian(Fixture::kDim, 1);
  EXPECT_EQ(f.select(**s, q).size(), 12u);
  EXPECT_EQ((*s)->stats().selections, 0);
}

}  // namespace
}  // namespace kvforge::pq

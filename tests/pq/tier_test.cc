#include <algorithm>
#include <filesystem>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kvforge/pq/retrieval.h"
#include "kvforge/pq/tier.h"

namespace kvforge::pq {
namespace {

// K of position p, head h: every element p + 1000 h; V the negative.
void fill(int32_t p, int h, int hd, float* k, float* v) {
  for (int i = 0; i < hd; ++i) {
    k[i] = static_cast<float>(p + 1000 * h) + 0.01f * static_cast<float>(i);
    v[i] = -k[i];
  }
}

constexpr int kHeadDim = 4;

// A tier of one layer and n_heads heads holding fill()'s K/V for positions [0, n_positions).
Result<std::unique_ptr<KvTier>> filled_tier(int block_tokens, size_t cache_blocks, int n_heads, int32_t n_positions) {
  KVF_ASSIGN_OR_RETURN(auto tier, KvTier::create({.block_tokens = block_tokens, .cache_blocks = cache_blocks,
                                                   .directory = {}},
                                                  kv::KvShape{1, n_heads, kHeadDim}));
  std::vector<float> k(kHeadDim), v(kHeadDim);
  for (int h = 0; h < n_heads; ++h) {
    for (int32_t p = 0; p < n_positions; ++p) {
      fill(p, h, kHeadDim, k.data(), v.data());
      KVF_RETURN_IF_ERROR(tier->store(0, h, p, k.data(), v.data()));
    }
  }
  return tier;
}

// Fetches `positions` of head h and checks row i holds fill()'s K/V of positions[i].
void fetch_check(KvTier* tier, int h, const std::vector<int32_t>& positions) {
  const size_t hd = kHeadDim;
  std::vector<float> ko(positions.size() * hd), vo(positions.size() * hd), want_k(hd), want_v(hd);
  tier->fetch(0, h, positions, ko.data(), vo.data());
  for (size_t i = 0; i < positions.size(); ++i) {
    fill(positions[i], h, kHeadDim, want_k.data(), want_v.data());
    EXPECT_TRUE(std::equal(want_k.begin(), want_k.end(), ko.begin() + static_cast<std::ptrdiff_t>(i * hd))) << i;
    EXPECT_TRUE(std::equal(want_v.begin(), want_v.end(), vo.begin() + static_cast<std::ptrdiff_t>(i * hd))) << i;
  }
}

TEST(KvTier, ServesStoredTokensThroughAnLfuBlockCache) {
  auto filled = filled_tier(/*block_tokens=*/4, /*cache_blocks=*/2, /*n_heads=*/2, /*n_positions=*/40);
  ASSERT_TRUE(filled.ok()) << filled.status().to_string();
  std::unique_ptr<KvTier> tier = std::move(*filled);
  EXPECT_TRUE(std::filesystem::exists(tier->path()));
  fetch_check(tier.get(), 0, {0, 1, 2, 3});  // block 0: one load, three hits
  EXPECT_EQ(tier->stats().misses, 1);
  EXPECT_EQ(tier->stats().hits, 3);
  fetch_check(tier.get(), 1, {9});   // head 1's block 2: a second block
  fetch_check(tier.get(), 0, {13});  // a third: the least frequently used (head 1's, used once) leaves
  fetch_check(tier.get(), 0, {2});   // block 0 (used four times) stayed
  const TierStats s = tier->stats();
  EXPECT_EQ(s.misses, 3);
  EXPECT_EQ(s.hits, 4);
  EXPECT_EQ(s.block_loads, 3);
  EXPECT_NEAR(s.hit_rate(), 4.0 / 7.0, 1e-12);
  fetch_check(tier.get(), 1, {9});  // evicted before: loaded again
  EXPECT_EQ(tier->stats().misses, 4);
  const std::string path = tier->path();
  tier.reset();
  EXPECT_FALSE(std::filesystem::exists(path));  // removed with the tier
}

TEST(KvTier, FetchKeepsTheCallersOrderAndVisitsBlocksInOrder) {
  auto tier = filled_tier(/*block_tokens=*/4, /*cache_blocks=*/1, /*n_heads=*/1, /*n_positions=*/8);
  ASSERT_TRUE(tier.ok()) << tier.status().to_string();
  fetch_check(tier->get(), 0, {6, 1, 5, 0});
  // One resident block: in the order asked, all four would miss; block by
  // block, each block loads once and serves its second token from the cache.
  EXPECT_EQ((*tier)->stats().misses, 2);
  EXPECT_EQ((*tier)->stats().hits, 2);
}

TEST(KvTier, RefusesBadOptions) {
  EXPECT_FALSE(KvTier::create({.block_tokens = 0, .cache_blocks = 2, .directory = {}}, {1, 1, 4}).ok());
  EXPECT_FALSE(KvTier::create({.block_tokens = 4, .cache_blocks = 0, .directory = {}}, {1, 1, 4}).ok());
  auto t = KvTier::create({.block_tokens = 4, .cache_blocks = 2, .directory = "/nonexistent/dir"}, {1, 1, 4});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kIOError);
}

TEST(KvTier, SelectorWithATierSelectsTheSameAndCountsEveryFetch) {
  kv::KvCache cache(kv::KvShape{1, 1, 8});
  std::vector<float> k(8), v(8);
  for (int32_t p = 0; p < 500; ++p) {
    for (int i = 0; i < 8; ++i) k[static_cast<size_t>(i)] = static_cast<float>((p * 7 + i * 13) % 17) - 8.0f;
    cache.head(0, 0).append(p, k.data(), v.data());
  }
  cache.set_next_position(500);
  auto plain = RetrievalSelector::create(*parse_retrieval_spec("0.2:sinks=4,m=4,bits=4"), cache.shape());
  auto tiered = RetrievalSelector::create(*parse_retrieval_spec("0.2:sinks=4,m=4,bits=4,tier=64,block=16"),
                                          cache.shape());
  ASSERT_TRUE(plain.ok() && tiered.ok());
  ASSERT_TRUE((*plain)->build(cache, nullptr).ok());
  ASSERT_TRUE((*tiered)->build(cache, nullptr).ok());
  const std::vector<float> q = {1, -1, 2, 0, 0.5f, 1, -2, 1};
  std::vector<int32_t> a, b;
  const auto& head = cache.head(0, 0);
  for (int rep = 0; rep < 3; ++rep) {
    (*plain)->select(0, 0, 499, head, q, head.live_slots(), &a);
    (*tiered)->select(0, 0, 499, head, q, head.live_slots(), &b);
    EXPECT_EQ(a, b);
  }
  const RetrievalStats s = (*tiered)->stats();
  const BudgetSplit split = split_budget((*tiered)->options(), 500);
  EXPECT_EQ(s.tier.hits + s.tier.misses, static_cast<int64_t>(3 * split.top_k));
  // 32 blocks fit: the second and third rounds only hit, the first hits within blocks.
  EXPECT_GE(s.tier.hit_rate(), 2.0 / 3.0);
  EXPECT_LE(s.tier.block_loads, 32);
  EXPECT_EQ(s.tier_errors, 0);
  EXPECT_EQ((*plain)->stats().tier.hits + (*plain)->stats().tier.misses, 0);
}

// Attention reads the top-k from the rows select_and_gather fetched: they must
// be the selected slots' keys and values, bit for bit, in selection order.
TEST(KvTier, SelectorServesTheSelectedTopKsKeysAndValuesFromTheTier) {
  const int hd = 8;
  kv::KvCache cache(kv::KvShape{1, 1, hd});
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> k(hd), v(hd);
  for (int32_t p = 0; p < 600; ++p) {
    for (auto& x : k) x = nd(rng);
    for (auto& x : v) x = nd(rng);
    cache.head(0, 0).append(p, k.data(), v.data());
  }
  cache.set_next_position(600);
  auto tiered = RetrievalSelector::create(*parse_retrieval_spec("0.2:sinks=4,m=4,bits=4,tier=4,block=16"),
                                          cache.shape());
  ASSERT_TRUE(tiered.ok());
  ASSERT_TRUE((*tiered)->build(cache, nullptr).ok());
  const auto& head = cache.head(0, 0);
  const BudgetSplit split = split_budget((*tiered)->options(), 600);
  std::vector<int32_t> selected;
  kv::GatheredKv gathered;
  int64_t fetched = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<float> q(2 * hd);  // a group of two query heads
    for (auto& x : q) x = nd(rng);
    (*tiered)->select_and_gather(0, 0, 599, head, q, head.live_slots(), &selected, &gathered);
    ASSERT_EQ(gathered.first, 4u);  // after the sinks
    ASSERT_EQ(gathered.rows, split.top_k);
    ASSERT_EQ(selected.size(), 4 + split.top_k + split.window + 1);
    for (size_t i = 0; i < gathered.rows; ++i) {
      const int32_t slot = selected[gathered.first + i];
      ASSERT_GE(head.position(slot), 4);  // a retrieved token, not a sink or the window
      ASSERT_LT(head.position(slot), static_cast<int32_t>(600 - 1 - split.window));
      ASSERT_TRUE(std::equal(head.key(slot), head.key(slot) + hd, gathered.keys.begin() + static_cast<std::ptrdiff_t>(i * hd)));
      ASSERT_TRUE(std::equal(head.value(slot), head.value(slot) + hd,
                             gathered.values.begin() + static_cast<std::ptrdiff_t>(i * hd)));
    }
    fetched += static_cast<int64_t>(gathered.rows);
  }
  // Every row came through the block cache (4 blocks of the ~34 indexed: loads and hits both).
  const TierStats s = (*tiered)->stats().tier;
  EXPECT_EQ(s.hits + s.misses, fetched);
  EXPECT_EQ(s.block_loads, s.misses);
  EXPECT_GT(s.misses, 0);
  EXPECT_GT(s.hits, 0);
  // A query that sees few enough tokens attends to all: nothing gathered or fetched.
  (*tiered)->select_and_gather(0, 0, 5, head, std::vector<float>(hd, 1.0f), head.live_slots().first(6), &selected,
                               &gathered);
  EXPECT_EQ(gathered.rows, 0u);
  EXPECT_EQ((*tiered)->stats().tier.hits + (*tiered)->stats().tier.misses, fetched);
}

}  // namespace
}  // namespace kvforge::pq

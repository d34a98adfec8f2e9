// Retrieval attention with the K/V of the top-k served by the slower tier
// (RetrievalSelector with tier_blocks > 0) against the same retrieval reading
// the cache: whole sessions must produce the same logits, bit for bit, since
// attention sums the same numbers in the same order.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kvforge/model/llama.h"
#include "kvforge/model/synthetic.h"
#include "kvforge/pq/retrieval.h"
#include "shared_paths.h"

namespace kvforge::pq {
namespace {

struct RunResult {
  std::vector<std::vector<float>> logits;  // one row per decoded token, then the batch's rows
  std::vector<int32_t> tokens;             // greedy choices
  RetrievalStats stats;
  int64_t expected_fetches = 0;  // tokens the tier should have served: sum of top-k over retrievals
};

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Prefills `prompt` with full attention, builds the index, decodes `steps`
// greedy tokens with retrieval, then runs a batch of 8 tokens through the
// selector (queries of one head served concurrently, each thread with its own
// gathered rows).
RunResult run(std::shared_ptr<const model::LlamaModel> m, const std::vector<int32_t>& prompt, int steps,
              const std::string& spec, int threads) {
  RunResult r;
  model::Session session(m, {.n_threads = threads});
  const Status prefilled = session.forward(prompt, model::LogitsMode::kNone, nullptr);
  EXPECT_TRUE(prefilled.ok()) << prefilled.to_string();
  auto options = parse_retrieval_spec(spec);
  EXPECT_TRUE(options.ok()) << options.status().to_string();
  auto selector = RetrievalSelector::create(*options, session.cache().shape());
  EXPECT_TRUE(selector.ok()) << selector.status().to_string();
  EXPECT_TRUE((*selector)->build(session.cache(), session.pool()).ok());
  session.set_selector(selector->get());
  const kv::KvShape shape = session.cache().shape();
  auto count_fetches = [&](int32_t position) {
    const BudgetSplit split = split_budget(*options, static_cast<size_t>(position) + 1);
    if (!split.all) r.expected_fetches += static_cast<int64_t>(split.top_k) * shape.n_layers * shape.n_kv_heads;
  };
  int32_t token = prompt.back();
  std::vector<float> logits;
  for (int s = 0; s < steps; ++s) {
    count_fetches(session.next_position());
    const Status decoded = session.decode(token, &logits);
    EXPECT_TRUE(decoded.ok()) << decoded.to_string();
    r.logits.push_back(logits);
    token = argmax(logits);
    r.tokens.push_back(token);
  }
  std::vector<int32_t> batch(8);
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i] = prompt[i];
    count_fetches(session.next_position() + static_cast<int32_t>(i));
  }
  const Status batched = session.forward(batch, model::LogitsMode::kAll, &logits);
  EXPECT_TRUE(batched.ok()) << batched.to_string();
  r.logits.push_back(logits);
  session.set_selector(nullptr);
  r.stats = (*selector)->stats();
  return r;
}

void expect_same_run_and_consistent_tier(const RunResult& plain, const RunResult& tiered) {
  ASSERT_EQ(plain.logits.size(), tiered.logits.size());
  for (size_t i = 0; i < plain.logits.size(); ++i) {
    ASSERT_EQ(plain.logits[i].size(), tiered.logits[i].size());
    const auto diff = std::mismatch(plain.logits[i].begin(), plain.logits[i].end(), tiered.logits[i].begin());
    ASSERT_TRUE(diff.first == plain.logits[i].end())  // bit-identical, not merely close
        << "step " << i << ", logit " << (diff.first - plain.logits[i].begin()) << ": " << *diff.first << " vs "
        << *diff.second;
  }
  EXPECT_EQ(plain.tokens, tiered.tokens);
  EXPECT_EQ(plain.stats.selections, tiered.stats.selections);
  EXPECT_GT(tiered.stats.selections, 0);
  EXPECT_EQ(tiered.stats.tier_errors, 0);
  // Every top-k token attention read came through the block cache, once.
  const TierStats& t = tiered.stats.tier;
  EXPECT_GT(tiered.expected_fetches, 0);
  EXPECT_EQ(t.hits + t.misses, tiered.expected_fetches);
  EXPECT_EQ(t.block_loads, t.misses);
  EXPECT_GT(t.hits, 0);
  EXPECT_GT(t.misses, 0);
  EXPECT_DOUBLE_EQ(t.hit_rate(), static_cast<double>(t.hits) / static_cast<double>(t.hits + t.misses));
  EXPECT_EQ(plain.stats.tier.hits + plain.stats.tier.misses, 0);
}

TEST(RetrievalTier, SyntheticModelSessionMatchesTheNoTierRunBitForBit) {
  // head_dim 64: attention's vector dot/axpy kernels; 4 kv heads over two
  // threads, so select_and_gather runs on pool workers.
  auto spec = model::parse_synthetic_spec("dim=512,hidden=256,layers=2,heads=8,kv_heads=4,vocab=256,ctx=1024,type=f32");
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  auto m = model::make_synthetic_model(*spec, 2);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  std::mt19937 rng(11);
  std::vector<int32_t> prompt(400);
  for (auto& t : prompt) t = static_cast<int32_t>(rng() % 256u);
  const RunResult plain = run(*m, prompt, 24, "0.2:sinks=8,m=8,bits=6", 2);
  // 6 blocks of 32 tokens for 2 layers x 4 kv heads: the cache must evict.
  const RunResult tiered = run(*m, prompt, 24, "0.2:sinks=8,m=8,bits=6,tier=6,block=32", 2);
  expect_same_run_and_consistent_tier(plain, tiered);
}

TEST(RetrievalTier, Stories260KSessionMatchesTheNoTierRunBitForBit) {
  // head_dim 8: attention's scalar loops for small heads.
  model::LoadOptions o;
  o.model_path = kvforge::testing::model_dir() + "stories260K.bin";
  o.tokenizer_path = kvforge::testing::model_dir() + "tok512.bin";
  auto m = model::LlamaModel::load(o);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  std::vector<int32_t> prompt = (*m)->tokenizer()->encode(
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, "
      "she saw a big, red ball in the park. She ran to it and kicked it as hard as she could. The ball flew high "
      "into the sky and landed in a tree. Lily was sad because she could not reach it.",
      /*bos=*/true);
  ASSERT_GT(prompt.size(), 60u);
  const RunResult plain = run(*m, prompt, 64, "0.2:sinks=4,m=4,bits=8", 1);
  const RunResult tiered = run(*m, prompt, 64, "0.2:sinks=4,m=4,bits=8,tier=8,block=16", 1);
  expect_same_run_and_consistent_tier(plain, tiered);
}

}  // namespace
}  // namespace kvforge::pq

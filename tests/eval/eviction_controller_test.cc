// The controller on the real stories260K weights.
#include "kvforge/eval/eviction_controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kvforge/evict/registry.h"
#include "shared_paths.h"

namespace kvforge::eval {
namespace {

using model::LogitsMode;

std::shared_ptr<const model::LlamaModel> load_model() {
  static std::shared_ptr<const model::LlamaModel> m = [] {
    model::LoadOptions o;
    o.model_path = testing::model_dir() + "stories260K.bin";
    o.tokenizer_path = testing::model_dir() + "tok512.bin";
    auto r = model::LlamaModel::load(o);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : nullptr;
  }();
  return m;
}

// The first 200 tokens of the eval text (BOS first).
std::vector<int32_t> text_200(const model::LlamaModel& m) {
  std::string text;
  for (const auto& line : testing::lines(testing::shared("data/tinystories-valid-first1000.txt"))) {
    text += line + " ";
    if (text.size() > 2000) break;
  }
  auto ids = m.tokenizer()->encode(text, true);
  EXPECT_GE(ids.size(), 200u);
  ids.resize(200);
  return ids;
}

int32_t argmax(const std::vector<float>& logits, size_t row, size_t vocab) {
  auto b = logits.begin() + static_cast<std::ptrdiff_t>(row * vocab);
  return static_cast<int32_t>(std::max_element(b, b + static_cast<std::ptrdiff_t>(vocab)) - b);
}

struct Harness {
  std::unique_ptr<model::Session> session;
  std::unique_ptr<EvictionController> controller;
};

Harness make_run(const std::string& policy, const std::string& budget, size_t reference, ControllerOptions opt = {}) {
  Harness r;
  r.session = std::make_unique<model::Session>(load_model());
  auto p = evict::make_policy(policy);
  EXPECT_TRUE(p.ok()) << p.status().to_string();
  auto c = EvictionController::create(r.session.get(), std::move(p).value(), opt);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  r.controller = std::move(c).value();
  auto b = evict::Budget::parse(budget);
  EXPECT_TRUE(b.ok());
  Status st = r.controller->set_budget(*b, reference);
  EXPECT_TRUE(st.ok()) << policy << ": " << st.to_string();
  return r;
}

TEST(EvictionController, EveryPolicyStaysWithinBudgetInPrefillAndDecode) {
  auto m = load_model();
  ASSERT_NE(m, nullptr);
  const auto ids = text_200(*m);
  const size_t vocab = static_cast<size_t>(m->config().vocab_size);
  model::Session plain(m);
  ASSERT_TRUE(plain.forward(ids, LogitsMode::kNone, nullptr).ok());
  const size_t full_bytes = plain.cache().bytes_live();
  const auto shape = plain.cache().shape();

  for (const auto& name : evict::policy_names()) {
    if (name == "full") continue;
    SCOPED_TRACE(name);
    Harness r = make_run(name, "0.25", ids.size());
    ASSERT_EQ(r.controller->budget_slots(), 50u);
    std::vector<float> logits;
    ASSERT_TRUE(r.controller->prefill(ids, LogitsMode::kAll, &logits).ok());
    EXPECT_EQ(logits.size(), ids.size() * vocab) << "one logits row per token";
    const auto& cache = r.session->cache();
    for (int l = 0; l < shape.n_layers; ++l) {
      for (int h = 0; h < shape.n_kv_heads; ++h) EXPECT_EQ(cache.head(l, h).size(), 50u);
    }
    EXPECT_EQ(cache.bytes_live(), full_bytes / 4);
    EXPECT_EQ(r.session->next_position(), 200);
    EXPECT_EQ(r.controller->evicted_total(), static_cast<size_t>(shape.n_layers * shape.n_kv_heads) * 150u);
    // Positions of the kept tokens are the original ones; the newest is kept.
    EXPECT_EQ(cache.head(0, 0).position(cache.head(0, 0).live_slots().back()), 199);

    int32_t token = argmax(logits, ids.size() - 1, vocab);
    std::vector<float> step;
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(r.controller->decode(token, &step).ok());
      ASSERT_EQ(step.size(), vocab);
      token = argmax(step, 0, vocab);
      EXPECT_LE(cache.max_head_size(), 50u);
    }
    EXPECT_EQ(r.session->next_position(), 220);
    EXPECT_LE(cache.bytes_allocated(), plain.cache().bytes_allocated()) << "freed slots are reused";
    if (r.controller->policy().needs_attention()) {
      EXPECT_GT(r.controller->policy_seconds(), 0.0);
    }
  }
}

TEST(EvictionController, FullKeepsEverythingAndMatchesAPlainSession) {
  auto m = load_model();
  ASSERT_NE(m, nullptr);
  const auto ids = text_200(*m);
  Harness r = make_run("full", "0.1", ids.size());
  model::Session plain(m);
  std::vector<float> a, b;
  ASSERT_TRUE(r.controller->prefill(ids, LogitsMode::kAll, &a).ok());
  ASSERT_TRUE(plain.forward(ids, LogitsMode::kAll, &b).ok());
  EXPECT_EQ(a, b);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(r.controller->decode(ids[static_cast<size_t>(i)], &a).ok());
    ASSERT_TRUE(plain.decode(ids[static_cast<size_t>(i)], &b).ok());
    EXPECT_EQ(a, b);
  }
  EXPECT_EQ(r.session->cache().max_head_size(), 205u);
  EXPECT_EQ(r.controller->evicted_total(), 0u);
  ASSERT_TRUE(r.controller->evict_to_budget(evict::Phase::kDecode).ok());
  EXPECT_EQ(r.session->cache().max_head_size(), 205u);
}

TEST(EvictionController, StreamingKeepsSinksAndTheMostRecent) {
  auto m = load_model();
  ASSERT_NE(m, nullptr);
  const auto ids = text_200(*m);
  Harness r = make_run("streaming", "0.25", ids.size(), ControllerOptions{.prefill_chunk = 7, .decode_stride = 1});
  ASSERT_TRUE(r.controller->prefill(ids, LogitsMode::kLast, nullptr).ok());
  std::vector<int32_t> expect = {0, 1, 2, 3};
  for (int32_t p = 154; p < 200; ++p) expect.push_back(p);
  const auto& cache = r.session->cache();
  for (int l = 0; l < cache.shape().n_layers; ++l) {
    for (int h = 0; h < cache.shape().n_kv_heads; ++h) {
      std::vector<int32_t> got;
      for (int32_t s : cache.head(l, h).live_slots()) got.push_back(cache.head(l, h).position(s));
      EXPECT_EQ(got, expect);
    }
  }
  // Decoding slides the window: after 3 steps, 4..6 more are gone.
  std::vector<float> logits;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r.controller->decode(ids[0], &logits).ok());
  std::vector<int32_t> got;
  for (int32_t s : cache.head(0, 0).live_slots()) got.push_back(cache.head(0, 0).position(s));
  expect = {0, 1, 2, 3};
  for (int32_t p = 157; p < 203; ++p) expect.push_back(p);
  EXPECT_EQ(got, expect);
}

TEST(EvictionController, EvictedPrefillMatchesPlainSessionUntilTheBudgetIsReached) {
  // Before the cache passes the budget nothing is evicted, so the first 50
  // logits rows equal a plain session's (up to batching differences).
  auto m = load_model();
  ASSERT_NE(m, nullptr);
  const auto ids = text_200(*m);
  const size_t vocab = static_cast<size_t>(m->config().vocab_size);
  Harness r = make_run("roco", "0.25", ids.size());
  model::Session plain(m);
  std::vector<float> a, b;
  ASSERT_TRUE(r.controller->prefill(ids, LogitsMode::kAll, &a).ok());
  ASSERT_TRUE(plain.forward(ids, LogitsMode::kAll, &b).ok());
  float max_diff_before = 0, max_diff_after = 0;
  for (size_t i = 0; i < 50 * vocab; ++i) max_diff_before = std::max(max_diff_before, std::abs(a[i] - b[i]));
  for (size_t i = 60 * vocab; i < a.size(); ++i) max_diff_after = std::max(max_diff_after, std::abs(a[i] - b[i]));
  EXPECT_LT(max_diff_before, 1e-3f);
  EXPECT_GT(max_diff_after, 1e-3f) << "eviction must change later logits";
}

TEST(EvictionController, BudgetBelowProtectionIsRejected) {
  auto m = load_model();
  ASSERT_NE(m, nullptr);
  model::Session session(m);
  auto c = EvictionController::create(&session, std::move(evict::make_policy("roco").value()), {});
  ASSERT_TRUE(c.ok());
  Status st = (*c)->set_budget(*evict::Budget::parse("10"), 200);
  ASSERT_TRUE(st.is_invalid_argument());
  EXPECT_NE(st.message().find("10"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("14"), std::string::npos) << st.message();
  EXPECT_TRUE((*c)->set_budget(*evict::Budget::parse("14"), 200).ok());
  // snapkv's 32-query observation window shrinks to half a small budget:
  // 10% of 200 = 20 slots observe and keep a window of 10.
  auto s = EvictionController::create(&session, std::move(evict::make_policy("snapkv").value()), {});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE((*s)->set_budget(*evict::Budget::parse("0.1"), 200).ok());
  EXPECT_EQ((*s)->policy().min_keep(evict::Phase::kPrefill, 20), 10u);
}

TEST(EvictionController, BadOptionsAndDetachOnDestruction) {
  auto m = load_model();
  ASSERT_NE(m, nullptr);
  model::Session session(m);
  EXPECT_TRUE(EvictionController::create(&session, std::move(evict::make_policy("h2o").value()), {.prefill_chunk = -1}).status().is_invalid_argument());
  EXPECT_TRUE(EvictionController::create(&session, std::move(evict::make_policy("h2o").value()), {.decode_stride = 0}).status().is_invalid_argument());
  EXPECT_TRUE(EvictionController::create(nullptr, std::move(evict::make_policy("h2o").value()), {}).status().is_invalid_argument());
  EXPECT_TRUE(EvictionController::create(&session, nullptr, {}).status().is_invalid_argument());
  {
    auto c = EvictionController::create(&session, std::move(evict::make_policy("h2o").value()), {});
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->set_budget(*evict::Budget::parse("16"), 0).ok());
    const std::vector<int32_t> ids = {1, 403, 407, 261};
    ASSERT_TRUE((*c)->prefill(ids, LogitsMode::kNone, nullptr).ok());
  }
  // The controller (and its policy) is gone: the session must not call it.
  std::vector<float> logits;
  ASSERT_TRUE(session.decode(5, &logits).ok());
}

TEST(EvictionController, DecodeStrideEvictsEveryNSteps) {
  auto m = load_model();
  ASSERT_NE(m, nullptr);
  const auto ids = text_200(*m);
  Harness r = make_run("h2o", "40", 0, ControllerOptions{.prefill_chunk = 0, .decode_stride = 4});
  ASSERT_TRUE(r.controller->prefill(std::span(ids).first(100), LogitsMode::kNone, nullptr).ok());
  EXPECT_EQ(r.session->cache().max_head_size(), 40u);
  std::vector<float> logits;
  for (int i = 1; i <= 8; ++i) {
    ASSERT_TRUE(r.controller->decode(ids[static_cast<size_t>(100 + i)], &logits).ok());
    EXPECT_EQ(r.session->cache().max_head_size(), i % 4 == 0 ? 40u : 40u + static_cast<size_t>(i % 4));
  }
  r.controller->reset();
  EXPECT_EQ(r.session->cache().max_head_size(), 0u);
  EXPECT_EQ(r.session->next_position(), 0);
}

}  // namespace
}  // namespace kvforge::eval

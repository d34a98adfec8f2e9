// BatchDecoder against each session's own Session::decode: sessions at different
// positions decoded in one batch get the logits and cache rows they get alone
// (the same kernels run on each row, so to the bit while the batch stays on the
// few-token matmul path), on synthetic models of each weight type and on
// stories260K; and a batch that fails validation touches nothing.
#include "kvforge/model/batch_decoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kvforge/model/synthetic.h"
#include "shared_paths.h"

namespace kvforge::model {
namespace {

using ModelPtr = std::shared_ptr<const LlamaModel>;

ModelPtr synthetic(const std::string& type, uint64_t seed = 1) {
  auto spec = parse_synthetic_spec("dim=64,hidden=96,layers=2,heads=4,kv_heads=2,vocab=200,ctx=64,type=" + type +
                                   ",seed=" + std::to_string(seed));
  KVF_CHECK(spec.ok());
  auto m = make_synthetic_model(*spec);
  KVF_CHECK(m.ok());
  return *m;
}

ModelPtr stories(const std::string& file) {
  LoadOptions o;
  o.model_path = testing::model_dir() + file;
  o.tokenizer_path = file.ends_with(".bin") ? testing::model_dir() + "tok512.bin" : "";
  auto m = LlamaModel::load(o);
  KVF_CHECK(m.ok());
  return *m;
}

std::vector<int32_t> random_tokens(const LlamaModel& m, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(1, m.config().vocab_size - 1);
  std::vector<int32_t> out(n);
  for (int32_t& t : out) t = id(rng);
  return out;
}

// Records every observer call, to compare a batched session's with its twin's.
// Kv heads call from several threads, so the order is compared sorted.
struct RecordingObserver : kv::AttentionObserver {
  std::mutex mu;
  std::vector<std::tuple<int, int, int, int32_t, std::vector<int32_t>, std::vector<float>>> calls;
  void on_attention(int layer, int q_head, int kv_head, int32_t query_position, std::span<const int32_t> slots,
                    std::span<const float> probs) override {
    const std::lock_guard<std::mutex> lock(mu);
    calls.emplace_back(layer, q_head, kv_head, query_position, std::vector<int32_t>(slots.begin(), slots.end()),
                       std::vector<float>(probs.begin(), probs.end()));
  }
};

// Attends to every other candidate and the newest: a selection that changes the logits.
struct AlternateSelector : kv::SlotSelector {
  void select(int, int, int32_t, const kv::KvHead&, std::span<const float>, std::span<const int32_t> candidates,
              std::vector<int32_t>* selected) override {
    selected->clear();
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (i % 2 == 0 || i + 1 == candidates.size()) selected->push_back(candidates[i]);
    }
  }
};

kv::DenseKvF32 exported(const Session& s) {
  kv::DenseKvF32 dense;
  KVF_CHECK(s.cache().export_range(0, s.cache().head(0, 0).size(), &dense).ok());
  return dense;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  KVF_CHECK(a.size() == b.size());
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

struct Differences {
  float logits = 0;  // largest |logit difference|, relative to the largest |logit|
  float kv = 0;      // largest |difference| of a cached key or value
};

// n pairs of sessions with prompts of different lengths; one of each pair
// decodes alone, the other in the batch, for `steps` steps.
Differences compare_batched(const ModelPtr& model, size_t n, int steps, bool hooks) {
  std::vector<std::unique_ptr<Session>> alone, batched;
  RecordingObserver obs_alone, obs_batched;
  AlternateSelector selector;
  for (size_t i = 0; i < n; ++i) {
    alone.push_back(std::make_unique<Session>(model));
    batched.push_back(std::make_unique<Session>(model));
    const std::vector<int32_t> prompt = random_tokens(*model, 2 + 5 * i, static_cast<uint32_t>(i));
    EXPECT_TRUE(alone.back()->forward(prompt, LogitsMode::kNone, nullptr).ok());
    EXPECT_TRUE(batched.back()->forward(prompt, LogitsMode::kNone, nullptr).ok());
  }
  if (hooks) {  // the hooks belong to one session of the batch only
    alone[0]->set_observer(&obs_alone);
    batched[0]->set_observer(&obs_batched);
    alone[n - 1]->set_selector(&selector);
    batched[n - 1]->set_selector(&selector);
  }
  BatchDecoder decoder(model, 2);
  std::vector<Session*> ptrs;
  for (auto& s : batched) ptrs.push_back(s.get());
  const size_t vocab = static_cast<size_t>(model->config().vocab_size);
  float max_diff = 0, max_logit = 0;
  for (int step = 0; step < steps; ++step) {
    const std::vector<int32_t> tokens = random_tokens(*model, n, 100u + static_cast<uint32_t>(step));
    std::vector<float> batch_logits, own;
    EXPECT_TRUE(decoder.decode(ptrs, tokens, &batch_logits).ok());
    EXPECT_EQ(batch_logits.size(), n * vocab);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_TRUE(alone[i]->decode(tokens[i], &own).ok());
      EXPECT_EQ(batched[i]->next_position(), alone[i]->next_position());
      for (size_t j = 0; j < vocab; ++j) {
        max_diff = std::max(max_diff, std::abs(own[j] - batch_logits[i * vocab + j]));
        max_logit = std::max(max_logit, std::abs(own[j]));
      }
    }
  }
  Differences d{max_diff / std::max(max_logit, 1e-6f), 0};
  for (size_t i = 0; i < n; ++i) {
    const kv::DenseKvF32 a = exported(*alone[i]), b = exported(*batched[i]);
    EXPECT_EQ(a.positions, b.positions) << "session " << i;
    d.kv = std::max({d.kv, max_abs_diff(a.k, b.k), max_abs_diff(a.v, b.v)});
  }
  if (hooks) {
    EXPECT_FALSE(obs_batched.calls.empty());
    std::sort(obs_alone.calls.begin(), obs_alone.calls.end());
    std::sort(obs_batched.calls.begin(), obs_batched.calls.end());
    EXPECT_EQ(obs_alone.calls, obs_batched.calls);
  }
  return d;
}

void expect_equal(const Differences& d, const std::string& what) {
  EXPECT_EQ(d.logits, 0.0f) << what;
  EXPECT_EQ(d.kv, 0.0f) << what;
}

class BatchDecoderTypes : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchDecoderTypes, MatchesEachSessionAlone) {
  const ModelPtr model = synthetic(GetParam());
  for (size_t n = 1; n <= 4; ++n) expect_equal(compare_batched(model, n, 3, false), "n=" + std::to_string(n));
}

TEST_P(BatchDecoderTypes, HooksSeeTheirOwnSessionOnly) {
  expect_equal(compare_batched(synthetic(GetParam()), 3, 3, true), "hooks");
}

INSTANTIATE_TEST_SUITE_P(Weights, BatchDecoderTypes, ::testing::Values("f32", "f16", "q8_0", "q4_0"));

TEST(BatchDecoder, MatchesStories260K) {
  for (const char* file : {"stories260K.bin", "stories260K-q8_0.gguf", "stories260K-f16.gguf"}) {
    const ModelPtr model = stories(file);
    for (size_t n = 1; n <= 4; ++n) expect_equal(compare_batched(model, n, 4, n == 4), file + (" n=" + std::to_string(n)));
  }
}

// Past the few-token path the products run as a tiled GEMM, whose sums round
// in another order: close, not equal (fp16 cache rows an ulp apart).
TEST(BatchDecoder, LargeBatchIsClose) {
  const Differences d = compare_batched(synthetic("f16"), 13, 2, false);
  EXPECT_LT(d.logits, 1e-3f);
  EXPECT_LT(d.kv, 1e-2f);
}

struct Fixture {
  ModelPtr model = synthetic("f32");
  Session a{model}, b{model};
  std::vector<float> logits = {42.0f};
  Fixture() {
    KVF_CHECK(a.forward(std::vector<int32_t>{1, 2, 3}, LogitsMode::kNone, nullptr).ok());
    KVF_CHECK(b.forward(std::vector<int32_t>{4}, LogitsMode::kNone, nullptr).ok());
  }
  void expect_untouched() const {
    EXPECT_EQ(a.next_position(), 3);
    EXPECT_EQ(b.next_position(), 1);
    EXPECT_EQ(a.cache().head(0, 0).size(), 3u);
    EXPECT_EQ(b.cache().head(0, 0).size(), 1u);
    EXPECT_EQ(logits, std::vector<float>{42.0f});
  }
};

TEST(BatchDecoder, RefusesASessionOfAnotherModel) {
  Fixture f;
  BatchDecoder decoder(synthetic("f32", 2), 1);
  Session* sessions[] = {&f.a};
  EXPECT_TRUE(decoder.decode(sessions, std::vector<int32_t>{5}, &f.logits).is_invalid_argument());
  f.expect_untouched();
}

TEST(BatchDecoder, RefusesASessionTwice) {
  Fixture f;
  BatchDecoder decoder(f.model, 1);
  Session* sessions[] = {&f.a, &f.b, &f.a};
  EXPECT_TRUE(decoder.decode(sessions, std::vector<int32_t>{5, 6, 7}, &f.logits).is_invalid_argument());
  f.expect_untouched();
}

TEST(BatchDecoder, RefusesBadTokensAndCounts) {
  Fixture f;
  BatchDecoder decoder(f.model, 1);
  Session* sessions[] = {&f.a, &f.b};
  EXPECT_TRUE(decoder.decode(sessions, std::vector<int32_t>{5, 200}, &f.logits).is_invalid_argument());
  EXPECT_TRUE(decoder.decode(sessions, std::vector<int32_t>{5}, &f.logits).is_invalid_argument());
  EXPECT_TRUE(decoder.decode(sessions, std::vector<int32_t>{5, 6}, nullptr).is_invalid_argument());
  f.expect_untouched();
}

TEST(BatchDecoder, SessionWithoutRoomIsOutOfRange) {
  Fixture f;
  SessionOptions o;
  o.max_positions = 2;
  Session full(f.model, o);
  ASSERT_TRUE(full.forward(std::vector<int32_t>{1, 2}, LogitsMode::kNone, nullptr).ok());
  BatchDecoder decoder(f.model, 1);
  Session* sessions[] = {&f.a, &full, &f.b};
  const Status st = decoder.decode(sessions, std::vector<int32_t>{5, 6, 7}, &f.logits);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange) << st.to_string();
  EXPECT_EQ(full.next_position(), 2);
  EXPECT_EQ(full.cache().head(0, 0).size(), 2u);
  f.expect_untouched();
}

TEST(BatchDecoder, EmptyBatchClearsLogits) {
  Fixture f;
  BatchDecoder decoder(f.model, 1);
  EXPECT_TRUE(decoder.decode({}, {}, &f.logits).ok());
  EXPECT_TRUE(f.logits.empty());
}

}  // namespace
}  // namespace kvforge::model

#include "kvforge/model/sampler.h"

#include <gtest/gtest.h>

#include "kvforge/model/llama.h"
#include "shared_paths.h"

namespace kvforge::model {
namespace {

TEST(Sampler, RejectsBadSettings) {
  EXPECT_TRUE(Sampler::create({-1.0f, 0.9f, 1}).status().is_invalid_argument());
  EXPECT_TRUE(Sampler::create({1.0f, 1.5f, 1}).status().is_invalid_argument());
  EXPECT_TRUE(Sampler::create({1.0f, -0.1f, 1}).status().is_invalid_argument());
}

TEST(Sampler, GreedyIsArgmaxAndSeedsRepeat) {
  auto g = Sampler::create({0.0f, 0.9f, 1});
  ASSERT_TRUE(g.ok());
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 2.9f};
  EXPECT_EQ(g->sample(l), 1);
  std::vector<int32_t> a, b;
  auto s1 = Sampler::create({1.0f, 0.9f, 42});
  auto s2 = Sampler::create({1.0f, 0.9f, 42});
  for (int i = 0; i < 50; ++i) {
    std::vector<float> x = {1.0f, 1.1f, 0.9f, 1.05f}, y = x;
    a.push_back(s1->sample(x));
    b.push_back(s2->sample(y));
  }
  EXPECT_EQ(a, b);
}

TEST(Sampler, TopPExcludesTheTail) {
  auto s = Sampler::create({1.0f, 0.5f, 3});
  ASSERT_TRUE(s.ok());
  for (int i = 0; i < 200; ++i) {
    std::vector<float> l = {5.0f, 0.0f, 0.0f, 0.0f};  // token 0 holds > 95% of the mass
    EXPECT_EQ(s->sample(l), 0);
  }
}

TEST(Sampler, TopKKeepsOnlyTheKMostLikely) {
  EXPECT_TRUE(Sampler::create({1.0f, 1.0f, 1, -1}).status().is_invalid_argument());
  auto s = Sampler::create({1.0f, 1.0f, 7, 2});
  ASSERT_TRUE(s.ok());
  std::vector<int> seen(5, 0);
  for (int i = 0; i < 400; ++i) {
    std::vector<float> l = {1.0f, 1.2f, 0.0f, 1.1f, 0.9f};  // the two most likely: tokens 1 and 3
    ++seen[static_cast<size_t>(s->sample(l))];
  }
  EXPECT_EQ(seen[0] + seen[2] + seen[4], 0);
  EXPECT_GT(seen[1], 0);
  EXPECT_GT(seen[3], 0);
  auto one = Sampler::create({5.0f, 0.9f, 9, 1});  // top-k 1 is greedy at any temperature
  for (int i = 0; i < 20; ++i) {
    std::vector<float> l = {0.3f, 0.1f, 0.35f};
    EXPECT_EQ(one->sample(l), 2);
  }
}

// stories260K-samples.txt line k was written by run.c with seed k, temperature 1,
// top-p 0.9, prompt "Once upon a time", 400 positions: reproducing it checks the
// sampler, RNG and forward pass together.
TEST(Sampler, ReproducesRunCSampledStories) {
  LoadOptions o;
  o.model_path = kvforge::testing::model_dir() + "stories260K.bin";
  o.tokenizer_path = kvforge::testing::model_dir() + "tok512.bin";
  auto m = LlamaModel::load(o);
  ASSERT_TRUE(m.ok());
  const auto samples = kvforge::testing::lines(kvforge::testing::shared("data/stories260K-samples.txt"));
  const Tokenizer& tok = *(*m)->tokenizer();
  for (uint64_t seed : {1, 2, 3}) {
    auto sampler = Sampler::create({1.0f, 0.9f, seed});
    ASSERT_TRUE(sampler.ok());
    auto ids = tok.encode("Once upon a time", true);
    Session s(*m, {.kv_type = kv::KvType::kF32});  // run.c's samples: its fp32 KV cache
    std::vector<float> logits;
    int32_t token = ids[0];
    std::string text;
    for (int pos = 0; pos < 400; ++pos) {
      ASSERT_TRUE(s.decode(token, &logits).ok());
      const int32_t next = pos + 1 < static_cast<int>(ids.size()) ? ids[pos + 1] : sampler->sample(logits);
      if (next == tok.bos()) break;
      text += tok.decode_piece(token, next);
      token = next;
    }
    for (char& c : text) if (c == '\n') c = ' ';
    while (!text.empty() && text.back() == ' ') text.pop_back();
    std::string want = samples[seed - 1];
    while (!want.empty() && want.back() == ' ') want.pop_back();
    EXPECT_EQ(text, want) << "seed " << seed;
  }
}

}  // namespace
}  // namespace kvforge::model

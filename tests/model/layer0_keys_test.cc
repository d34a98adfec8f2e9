// Session::layer0_keys (kv::Recompute's check of loaded KV against its text)
// against layer 0 of the cache a real prefill fills: stories260K with F32 and
// F16 caches, and each architecture's extras (qwen2's key bias, qwen3's key
// norm and NeoX rotation, Llama 3's frequency factors, partial rotation).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "arch_model.h"
#include "kvforge/core/half.h"
#include "kvforge/model/llama.h"
#include "shared_paths.h"
#include "temp_dir.h"

namespace kvforge::model {
namespace {

std::shared_ptr<const LlamaModel> stories() {
  static std::shared_ptr<const LlamaModel> m = [] {
    LoadOptions o;
    o.model_path = testing::model_dir() + "stories260K.bin";
    o.tokenizer_path = testing::model_dir() + "tok512.bin";
    auto r = LlamaModel::load(o);
    KVF_CHECK(r.ok());
    return *r;
  }();
  return m;
}

std::vector<int32_t> story_tokens(const LlamaModel& m, size_t n) {
  const auto lines = testing::lines(testing::shared("data/tinystories-valid-first1000.txt"));
  std::string text;
  for (size_t i = 0; i < 8; ++i) text += lines[i] + " ";
  std::vector<int32_t> ids = m.tokenizer()->encode(text, true);
  KVF_CHECK(ids.size() >= n);
  ids.resize(n);
  return ids;
}

// Layer 0's keys of cache tokens [begin, end) as fp32, [kv_head][token][head_dim].
std::vector<float> cached_layer0(const kv::KvCache& cache, size_t begin, size_t end) {
  kv::DenseKvF32 dense;
  KVF_CHECK(cache.export_range(begin, end, &dense).ok());
  const size_t n = static_cast<size_t>(dense.shape.n_kv_heads) * (end - begin) * dense.shape.head_dim;
  return std::vector<float>(dense.k.begin(), dense.k.begin() + static_cast<std::ptrdiff_t>(n));
}

std::vector<float> recomputed(Session& s, std::span<const int32_t> tokens, int32_t first) {
  const kv::KvShape shape = s.cache().shape();
  std::vector<float> out(static_cast<size_t>(shape.n_kv_heads) * tokens.size() * shape.head_dim);
  const Status st = s.layer0_keys(tokens, first, out.data());
  KVF_CHECK(st.ok());
  return out;
}

float fp16_round(float x) { return core::fp16_to_f32(core::f32_to_fp16(x)); }

double max_relative_diff(const std::vector<float>& a, const std::vector<float>& b) {
  KVF_CHECK(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double{a[i]} - b[i]) / (std::fabs(b[i]) + 1e-3));
  return m;
}

TEST(Layer0Keys, EqualTheF32CacheAfterAPrefillBitForBit) {
  // 300 tokens: two forward batches (256 + 44), which layer0_keys splits alike.
  const std::vector<int32_t> ids = story_tokens(*stories(), 300);
  Session s(stories(), {.n_threads = 2, .kv_type = kv::KvType::kF32});
  ASSERT_TRUE(s.forward(ids, LogitsMode::kNone, nullptr).ok());
  const size_t slots = s.cache().total_slots();
  EXPECT_EQ(recomputed(s, ids, 0), cached_layer0(s.cache(), 0, ids.size()));
  EXPECT_EQ(s.cache().total_slots(), slots);  // the cache is left as it was
  // A chunk on its own, at its positions (another batch: products may round apart).
  const std::span<const int32_t> chunk = std::span(ids).subspan(64, 64);
  EXPECT_LT(max_relative_diff(recomputed(s, chunk, 64), cached_layer0(s.cache(), 64, 128)), 1e-4);
}

TEST(Layer0Keys, EqualTheF16CacheAfterRoundingToFp16) {
  const std::vector<int32_t> ids = story_tokens(*stories(), 300);
  Session s(stories(), {.n_threads = 2});  // F16, the default
  ASSERT_EQ(s.cache().type(), kv::KvType::kF16);
  ASSERT_TRUE(s.forward(ids, LogitsMode::kNone, nullptr).ok());
  std::vector<float> keys = recomputed(s, ids, 0);
  for (float& x : keys) x = fp16_round(x);
  EXPECT_EQ(keys, cached_layer0(s.cache(), 0, ids.size()));
}

TEST(Layer0Keys, AreOtherTokensOrPositionsNotThese) {
  const std::vector<int32_t> ids = story_tokens(*stories(), 128);
  Session s(stories(), {.kv_type = kv::KvType::kF32});
  ASSERT_TRUE(s.forward(ids, LogitsMode::kNone, nullptr).ok());
  const std::vector<float> cached = cached_layer0(s.cache(), 64, 128);
  const std::span<const int32_t> chunk = std::span(ids).subspan(64, 64);
  EXPECT_GT(max_relative_diff(recomputed(s, chunk, 65), cached), 0.1);                     // shifted by one position
  EXPECT_GT(max_relative_diff(recomputed(s, std::span(ids).first(64), 64), cached), 0.1);  // other tokens
}

TEST(Layer0Keys, RefuseTokensOutsideTheVocabularyAndPositionsOutsideTheContext) {
  Session s(stories());
  std::vector<float> out(4096);
  const int32_t bad[] = {1, 100000};
  EXPECT_TRUE(s.layer0_keys(bad, 0, out.data()).is_invalid_argument());
  const int32_t ok[] = {1, 2};
  EXPECT_EQ(s.layer0_keys(ok, -1, out.data()).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.layer0_keys(ok, s.max_positions() - 1, out.data()).code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(s.layer0_keys(ok, s.max_positions() - 2, out.data()).ok());
  EXPECT_EQ(s.cache().total_slots(), 0u);
}

class Layer0KeysArch : public ::testing::TestWithParam<testing::ArchSpec> {};

TEST_P(Layer0KeysArch, EqualTheF32Cache) {
  const testing::ArchSpec& spec = GetParam();
  testing::TempDir dir;
  const std::string path = dir.path() + "/model.gguf";
  ASSERT_TRUE(testing::arch_gguf(spec, testing::make_arch_weights(spec)).write(path).ok());
  LoadOptions o;
  o.model_path = path;
  o.require_tokenizer = false;
  auto m = LlamaModel::load(o);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  std::vector<int32_t> ids(40);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 37 + 5) % spec.vocab);
  Session s(*m, {.n_threads = 2, .kv_type = kv::KvType::kF32});
  ASSERT_TRUE(s.forward(ids, LogitsMode::kNone, nullptr).ok());
  EXPECT_EQ(recomputed(s, ids, 0), cached_layer0(s.cache(), 0, ids.size()));
}

testing::ArchSpec arch(const std::string& name, bool biases, bool factors, int rope_dim) {
  testing::ArchSpec s;
  s.arch = name;
  s.biases = biases;
  s.freq_factors = factors;
  s.rope_dim = rope_dim;
  return s;
}

INSTANTIATE_TEST_SUITE_P(Architectures, Layer0KeysArch,
                         ::testing::Values(arch("qwen2", true, false, 0), arch("qwen3", false, false, 0),
                                           arch("llama", false, true, 0), arch("llama", false, false, 8)),
                         [](const ::testing::TestParamInfo<testing::ArchSpec>& info) {
                           return info.param.arch + (info.param.biases ? "_bias" : "") +
                                  (info.param.freq_factors ? "_factors" : "") + (info.param.rope_dim ? "_partial" : "");
                         });

}  // namespace
}  // namespace kvforge::model

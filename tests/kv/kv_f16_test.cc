// The F16 KV cache: storage, accounting, export/import, and attention over it
// (every path: per-token loops, batched BLAS, small and large heads) against a
// double-precision reference on fp16-rounded keys, values, queries and weights.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kvforge/core/half.h"
#include "kvforge/core/thread_pool.h"
#include "kvforge/kv/attention.h"
#include "kvforge/kv/kv_cache.h"

namespace kvforge::kv {
namespace {

float r16(float x) { return core::fp16_to_f32(core::f32_to_fp16(x)); }

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

TEST(KvF16, StoresHalvesAndReadsBackRounded) {
  const KvShape shape{2, 2, 8};
  KvCache c16(shape, KvType::kF16), c32(shape, KvType::kF32);
  const auto k = random_values(8, 1), v = random_values(8, 2);
  for (KvCache* c : {&c16, &c32}) {
    for (int l = 0; l < 2; ++l) {
      for (int h = 0; h < 2; ++h) c->head(l, h).append(0, k.data(), v.data());
    }
  }
  EXPECT_EQ(c16.bytes_live(), c32.bytes_live() / 2);
  EXPECT_EQ(c16.bytes_live(), KvCache::bytes_per_token(shape, KvType::kF16));
  EXPECT_EQ(c16.position_bytes_live(), c32.position_bytes_live());
  std::vector<float> kk(8), vv(8);
  c16.head(1, 1).read_key(0, kk.data());
  c16.head(1, 1).read_value(0, vv.data());
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(kk[i], r16(k[i]));
    EXPECT_EQ(vv[i], r16(v[i]));
  }
  EXPECT_EQ(c16.head(0, 0).key_f16(0)[3], core::f32_to_fp16(k[3]));
  // Dense export at fp16 is the stored bits; at fp32 the widened values; both import back unchanged.
  DenseKvF16 d16;
  DenseKvF32 d32;
  ASSERT_TRUE(c16.export_range(0, 1, &d16).ok());
  ASSERT_TRUE(c16.export_range(0, 1, &d32).ok());
  EXPECT_EQ(d16.k[d16.index(1, 1, 0) + 3], core::f32_to_fp16(k[3]));
  EXPECT_EQ(d32.v[d32.index(0, 1, 0) + 5], r16(v[5]));
  KvCache back(shape, KvType::kF16);
  ASSERT_TRUE(back.import_tokens(d32).ok());
  EXPECT_EQ(back.head(1, 0).key_f16(0)[7], c16.head(1, 0).key_f16(0)[7]);
}

TEST(KvF16, KvTypesByName) {
  EXPECT_EQ(*parse_kv_type("f16"), KvType::kF16);
  EXPECT_EQ(*parse_kv_type("f32"), KvType::kF32);
  auto bad = parse_kv_type("q8_0");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("f16, f32"), std::string::npos);
  EXPECT_EQ(kv_type_name(KvType::kF16), "f16");
}

// Causal attention of every query over keys [0, its position], computed in
// double from fp16-rounded inputs and softmax weights, as the F16 cache defines it.
std::vector<float> reference(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                             size_t n, int heads, int kv_heads, int hd) {
  std::vector<float> out(n * heads * hd, 0.0f);
  const int group = heads / kv_heads;
  for (size_t t = 0; t < n; ++t) {
    for (int h = 0; h < heads; ++h) {
      const int kvh = h / group;
      std::vector<double> w(t + 1);
      double mx = -1e300;
      for (size_t j = 0; j <= t; ++j) {
        double d = 0;
        for (int i = 0; i < hd; ++i) d += r16(q[(t * heads + h) * hd + i]) * r16(k[(j * kv_heads + kvh) * hd + i]);
        w[j] = d / std::sqrt(static_cast<double>(hd));
        mx = std::max(mx, w[j]);
      }
      double sum = 0;
      for (double& x : w) sum += (x = std::exp(x - mx));
      for (size_t j = 0; j <= t; ++j) {
        const double p = r16(static_cast<float>(w[j] / sum));
        for (int i = 0; i < hd; ++i) out[(t * heads + h) * hd + i] += p * r16(v[(j * kv_heads + kvh) * hd + i]);
      }
    }
  }
  return out;
}

class KvF16Attention : public ::testing::TestWithParam<std::tuple<int, size_t>> {};

TEST_P(KvF16Attention, MatchesReferenceOnEveryPath) {
  const auto [hd, n] = GetParam();  // head_dim 8 takes the small-head loops, 64 the kernels; n >= 16 uses BLAS
  const int heads = 4, kv_heads = 2;
  const auto q = random_values(n * heads * hd, 3), k = random_values(n * kv_heads * hd, 4),
             v = random_values(n * kv_heads * hd, 5);
  KvCache cache({1, kv_heads, hd}, KvType::kF16);
  std::vector<int32_t> pos(n);
  for (size_t t = 0; t < n; ++t) {
    pos[t] = static_cast<int32_t>(t);
    for (int h = 0; h < kv_heads; ++h) {
      cache.head(0, h).append(pos[t], k.data() + (t * kv_heads + h) * hd, v.data() + (t * kv_heads + h) * hd);
    }
  }
  const std::vector<float> want = reference(q, k, v, n, heads, kv_heads, hd);
  core::ThreadPool pool(2);
  std::vector<float> got(want.size());
  attend(KvView{&cache, nullptr, nullptr}, AttentionBatch{0, heads, n, pos.data(), q.data(), got.data()}, &pool);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-4) << i;
}

INSTANTIATE_TEST_SUITE_P(Shapes, KvF16Attention,
                         ::testing::Combine(::testing::Values(8, 64), ::testing::Values(size_t{5}, size_t{40})));

}  // namespace
}  // namespace kvforge::kv

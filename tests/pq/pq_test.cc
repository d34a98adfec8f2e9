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

namespace kvforge::pq {
namespace {

std::vector<float> gaussian(size_t n, uint64_t seed, float sd = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(KMeans, RecoversWellSeparatedClusters) {
  const int d = 4, k = 5;
  const auto centers = gaussian(static_cast<size_t>(k * d), 7, 100.0f);
  std::vector<float> x;
  const auto noise = gaussian(static_cast<size_t>(k * 60 * d), 8, 0.01f);
  for (int p = 0; p < k * 60; ++p) {
    for (int t = 0; t < d; ++t) x.push_back(centers[static_cast<size_t>((p % k) * d + t)] + noise[static_cast<size_t>(p * d + t)]);
  }
  core::ThreadPool pool(2);
  std::vector<float> c;
  ASSERT_TRUE(kmeans(x.data(), x.size() / d, d, k, {}, &pool, &c).ok());
  ASSERT_EQ(c.size(), static_cast<size_t>(k * d));
  std::set<int> matched;
  for (int j = 0; j < k; ++j) {
    const int nearest = nearest_centroid(&centers[static_cast<size_t>(j * d)], c.data(), k, d);
    matched.insert(nearest);
    for (int t = 0; t < d; ++t) EXPECT_NEAR(c[static_cast<size_t>(nearest * d + t)], centers[static_cast<size_t>(j * d + t)], 0.01);
  }
  EXPECT_EQ(matched.size(), static_cast<size_t>(k));
  // Same seed, same centroids, whatever the pool.
  std::vector<float> c1;
  ASSERT_TRUE(kmeans(x.data(), x.size() / d, d, k, {}, nullptr, &c1).ok());
  EXPECT_EQ(c, c1);
}

TEST(KMeans, RejectsEmptyInput) {
  std::vector<float> c;
  EXPECT_FALSE(kmeans(nullptr, 0, 4, 2, {}, nullptr, &c).ok());
}

TEST(PackedCodes, RoundTripsEveryWidth) {
  for (int bits : kSupportedBits) {
    for (int m : {1, 2, 3, 8, 16}) {
      PackedCodes codes(m, bits);
      std::mt19937 rng(static_cast<uint32_t>(bits * 100 + m));
      std::vector<uint16_t> all;
      for (int i = 0; i < 77; ++i) {
        std::vector<uint16_t> sub(static_cast<size_t>(m));
        for (auto& s : sub) s = static_cast<uint16_t>(rng() % (1u << bits));
        codes.push(sub.data());
        all.insert(all.end(), sub.begin(), sub.end());
      }
      ASSERT_EQ(codes.size(), 77u);
      const size_t expected = bits == 4 ? 96u * static_cast<size_t>((m + 1) / 2)  // 3 blocks of 32, rows of 2 codes
                                        : (77u * static_cast<size_t>(m * bits) + 7) / 8;
      EXPECT_EQ(codes.bytes(), expected);
      for (size_t i = 0; i < 77; ++i)
        for (int j = 0; j < m; ++j) ASSERT_EQ(codes.get(i, j), all[i * static_cast<size_t>(m) + static_cast<size_t>(j)]);
    }
  }
}

TEST(ProductQuantizer, ExactOnProductOfCodebooks) {
  // Every vector is a concatenation of 16 possible sub-vectors per sub-space:
  // 4-bit codebooks can represent them exactly.
  const int dim = 8, m = 2, bits = 4;
  const auto books = gaussian(static_cast<size_t>(m * 16 * (dim / m)), 3, 10.0f);
  std::mt19937 rng(4);
  std::vector<float> x;
  for (int i = 0; i < 2000; ++i) {
    for (int j = 0; j < m; ++j) {
      const size_t c = rng() % 16;
      for (int t = 0; t < dim / m; ++t) x.push_back(books[(static_cast<size_t>(j) * 16 + c) * (dim / m) + static_cast<size_t>(t)]);
    }
  }
  auto pq = ProductQuantizer::train({.dim = dim, .m = m, .bits = bits, .kmeans = {}}, x.data(), 2000, nullptr);
  ASSERT_TRUE(pq.ok()) << pq.status().to_string();
  PackedCodes codes(m, bits);
  pq->encode(x.data(), 2000, &codes);
  std::vector<float> y(dim);
  for (size_t i = 0; i < 2000; ++i) {
    pq->decode(codes, i, y.data());
    for (int t = 0; t < dim; ++t) ASSERT_NEAR(y[static_cast<size_t>(t)], x[i * dim + static_cast<size_t>(t)], 1e-4);
  }
}

TEST(ProductQuantizer, ReconstructionErrorBoundOnGaussianData) {
  const int dim = 8;
  const size_t n = 4000;
  const auto x = gaussian(n * dim, 11);
  for (int bits : kSupportedBits) {
    auto pq = ProductQuantizer::train({.dim = dim, .m = 4, .bits = bits, .kmeans = {}}, x.data(), n, nullptr);
    ASSERT_TRUE(pq.ok());
    PackedCodes codes(4, bits);
    pq->encode(x.data(), n, &codes);
    double err = 0, energy = 0;
    std::vector<float> y(dim);
    for (size_t i = 0; i < n; ++i) {
      pq->decode(codes, i, y.data());
      for (int t = 0; t < dim; ++t) {
        const double e = y[static_cast<size_t>(t)] - x[i * dim + static_cast<size_t>(t)];
        err += e * e;
        energy += static_cast<double>(x[i * dim + static_cast<size_t>(t)]) * x[i * dim + static_cast<size_t>(t)];
      }
    }
    // 2-D sub-spaces: 16 centroids leave ~1/9 of the variance, 256 ~1/100.
    const double bound = bits == 4 ? 0.2 : bits == 6 ? 0.06 : 0.02;
    EXPECT_LT(err / energy, bound) << "bits " << bits;
  }
}

TEST(ProductQuantizer, TableScoresEqualDotWithReconstruction) {
  const int dim = 16;
  const size_t n = 3000;
  const auto x = gaussian(n * dim, 21);
  const auto q = gaussian(dim, 22);
  struct Case {
    int m, bits;
  };
  // 6 and 8 bits: m * bits of 12 takes the folded-table path, the others the generic one; 4 bits the fast scan
  // (m = 1: a row with an empty high nibble).
  for (Case c : {Case{2, 4}, Case{2, 6}, Case{2, 8}, Case{4, 6}, Case{8, 8}, Case{16, 4}, Case{1, 4}}) {
    auto pq = ProductQuantizer::train({.dim = dim, .m = c.m, .bits = c.bits, .kmeans = {.iterations = 4}}, x.data(),
                                      n, nullptr);
    ASSERT_TRUE(pq.ok());
    PackedCodes codes(c.m, c.bits);
    pq->encode(x.data(), n, &codes);
    std::vector<float> table(static_cast<size_t>(c.m * pq->ksub()));
    pq->ip_table(q.data(), 0.5f, table.data());
    // 4 bits: the fast scan's byte tables round every entry.
    const float bound = c.bits == 4 ? scan_ip_error_bound(table.data(), c.m) : 0.0f;
    if (c.bits == 4) {
      EXPECT_GT(bound, 0.0f);
    }
    for (size_t begin : {size_t{0}, size_t{5}, size_t{37}}) {
      std::vector<float> scores(n - begin);
      scan_ip(codes, begin, n, table.data(), pq->ksub(), scores.data());
      std::vector<float> y(dim);
      for (size_t i = begin; i < n; ++i) {
        pq->decode(codes, i, y.data());
        float ref = 0;
        for (int t = 0; t < dim; ++t) ref += q[static_cast<size_t>(t)] * y[static_cast<size_t>(t)];
        ASSERT_NEAR(scores[i - begin], 0.5f * ref, bound + 1e-3f * (1.0f + std::fabs(ref))) << c.m << "x" << c.bits;
      }
    }
  }
}

// Machines without AVX-512 take other code paths: every target this CPU can
// run scans random codes to the same scores (the 4-bit fast scan sums integers,
// so the targets agree up to the final float conversion).
TEST(ProductQuantizer, ScanAgreesOnEveryCompiledTarget) {
  struct Case {
    int m, bits;
  };
  const size_t n = 301;
  for (Case c : {Case{1, 4}, Case{2, 4}, Case{128, 4}, Case{2, 6}, Case{8, 8}}) {
    PackedCodes codes(c.m, c.bits);
    std::mt19937 rng(static_cast<uint32_t>(c.m * 10 + c.bits));
    std::vector<uint16_t> sub(static_cast<size_t>(c.m));
    for (size_t i = 0; i < n; ++i) {
      for (auto& v : sub) v = static_cast<uint16_t>(rng() % (1u << c.bits));
      codes.push(sub.data());
    }
    const int ksub = 1 << c.bits;
    const auto table = gaussian(static_cast<size_t>(c.m * ksub), 5);
    std::vector<float> first(n - 3), scores(n - 3);
    bool have_first = false;
    for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
      hwy::SetSupportedTargetsForTest(target);
      scan_ip(codes, 3, n, table.data(), ksub, scores.data());
      if (!have_first) {
        first = scores;
        have_first = true;
        continue;
      }
      for (size_t i = 0; i < scores.size(); ++i) {
        ASSERT_NEAR(scores[i], first[i], 1e-4f * (1.0f + std::fabs(first[i])))
            << c.m << "x" << c.bits << " target " << hwy::TargetName(target) << " vector " << i;
      }
    }
    hwy::SetSupportedTargetsForTest(0);  // back to the real CPU
    ASSERT_TRUE(have_first);
  }
}

TEST(ProductQuantizer, BadParametersAreRefused) {
  std::vector<float> x(64, 1.0f);
  for (int bits : {0, 3, 5, 7, 9, 16}) {
    auto pq = ProductQuantizer::train({.dim = 8, .m = 2, .bits = bits, .kmeans = {}}, x.data(), 8, nullptr);
    ASSERT_FALSE(pq.ok());
    EXPECT_EQ(pq.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(pq.status().message().find("bits"), std::string::npos);
  }
  for (int m : {0, 3, 5, 16}) {
    auto pq = ProductQuantizer::train({.dim = 8, .m = m, .bits = 4, .kmeans = {}}, x.data(), 8, nullptr);
    ASSERT_FALSE(pq.ok());
    EXPECT_NE(pq.status().message().find("divide"), std::string::npos);
  }
  EXPECT_FALSE(ProductQuantizer::train({.dim = 8, .m = 2, .bits = 4, .kmeans = {}}, x.data(), 0, nullptr).ok());
}

std::vector<int32_t> brute_top_k(const std::vector<float>& s, size_t k) {
  std::vector<int32_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return s[static_cast<size_t>(a)] > s[static_cast<size_t>(b)]; });
  idx.resize(std::min(k, s.size()));
  std::sort(idx.begin(), idx.end());
  return idx;
}

TEST(SelectTopK, EqualsBruteForce) {
  std::mt19937 rng(5);
  for (size_t n : {1, 2, 7, 100, 1000, 33000}) {
    auto s = gaussian(n, n);
    // Ties and a constant stretch.
    for (size_t i = 0; i + 3 < n; i += 7) s[i + 1] = s[i];
    for (size_t k : {size_t{0}, size_t{1}, n / 10, n / 2, n - 1, n, n + 3}) {
      std::vector<int32_t> got;
      select_top_k(s, k, &got);
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, brute_top_k(s, k)) << "n=" << n << " k=" << k;
    }
  }
  std::vector<float> flat(500, 2.5f);
  std::vector<int32_t> got;
  select_top_k(flat, 10, &got);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, brute_top_k(flat, 10));
}

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

// ProductQuantizer: k-means, packed codes, reconstruction, table scores and
// the scan on every compiled target, select_top_k (retrieval in retrieval_test.cc).
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

}  // namespace
}  // namespace kvforge::pq

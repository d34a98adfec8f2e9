// Attention's fp16 slot kernels (kernels.h: dot_slots_f16, axpy_slots_f16) and
// the fp16 rounding row: every compiled SIMD target against the scalar
// reference, on head sizes with and without a vector tail and slots out of order.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/kernels.h"

namespace kvforge::core {
namespace {

struct Rows {
  std::vector<uint16_t> data;
  std::vector<int32_t> slots;
  std::vector<float> q, w;
};

Rows make_rows(size_t d, size_t capacity, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  Rows r;
  r.data.resize(capacity * d);
  for (auto& h : r.data) h = f32_to_fp16(g(rng));
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(capacity) - 1);
  for (size_t i = 0; i < n; ++i) r.slots.push_back(pick(rng));  // any order, repeats allowed
  for (size_t j = 0; j < d; ++j) r.q.push_back(g(rng));
  for (size_t i = 0; i < n; ++i) r.w.push_back(std::fabs(g(rng)) / static_cast<float>(n));
  return r;
}

TEST(SlotsF16, MatchRefOnEveryTarget) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd_target_name());
    for (size_t d : {8, 24, 64, 80, 128}) {
      for (size_t n : {0, 1, 5, 33}) {
        SCOPED_TRACE(testing::Message() << "d " << d << " n " << n);
        const Rows r = make_rows(d, 40, n, static_cast<uint32_t>(d * 100 + n));
        std::vector<float> got(n), want(n);
        dot_slots_f16(r.data.data(), r.slots.data(), n, d, r.q.data(), 0.125f, got.data());
        ref::dot_slots_f16(r.data.data(), r.slots.data(), n, d, r.q.data(), 0.125f, want.data());
        for (size_t i = 0; i < n; ++i) EXPECT_NEAR(got[i], want[i], 1e-5f * std::sqrt(static_cast<float>(d)));
        std::vector<float> y(d, 0.5f), y_ref(d, 0.5f);
        axpy_slots_f16(r.data.data(), r.slots.data(), n, d, r.w.data(), y.data());
        ref::axpy_slots_f16(r.data.data(), r.slots.data(), n, d, r.w.data(), y_ref.data());
        for (size_t j = 0; j < d; ++j) EXPECT_NEAR(y[j], y_ref[j], 1e-5f);
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(SlotsF16, RoundToFp16RowIsTheScalarRoundTrip) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.0f, 100.0f);
  std::vector<float> x(1000);
  for (auto& v : x) v = g(rng);
  x[0] = 65520.0f;  // rounds to infinity
  x[1] = 1e-8f;     // subnormal in fp16
  x[2] = -0.0f;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd_target_name());
    std::vector<float> got(x.size());
    round_to_fp16_row(x.data(), got.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i], fp16_to_f32(f32_to_fp16(x[i]))) << i << " " << x[i];
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace
}  // namespace kvforge::core

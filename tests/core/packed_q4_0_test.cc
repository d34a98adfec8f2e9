// Q4_0 packed eight rows at a time (packed_q4_0.h): the layout is the one the
// header documents, and on every compiled SIMD target the packed product of
// any number of tokens, serial or threaded, equals the scalar integer dot of
// the row-major matrix (ref::dot_row_q8). Also the SIMD q8_0 quantizer the
// packed path feeds it through equals the scalar one bit for bit.
#include "kvforge/core/packed_q4_0.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/kernels_ref.h"
#include "core/quant_blocks.h"
#include "kvforge/core/kernels.h"
#include "kvforge/core/quantized_activations.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::core {
namespace {

std::vector<float> activations(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng);
  if (n >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // a zero block: scale 0, codes 0
  return x;
}

TEST(PackedQ4_0, OnlyQ4_0WithRowsInEights) {
  EXPECT_TRUE(can_pack_q4_0(TensorType::kQ4_0, 16, 64));
  EXPECT_FALSE(can_pack_q4_0(TensorType::kQ4_0, 12, 64));
  EXPECT_FALSE(can_pack_q4_0(TensorType::kQ4_0, 0, 64));
  EXPECT_FALSE(can_pack_q4_0(TensorType::kQ8_0, 16, 64));
  EXPECT_FALSE(can_pack_q4_0(TensorType::kQ4_K, 16, 256));
}

// Every qs byte tagged with its row, block and index: each lands where the
// header's layout says, each scale at 2r, and no byte is lost or duplicated.
TEST(PackedQ4_0, LayoutIsTheDocumentedOne) {
  const size_t rows = 16, cols = 64, nb = cols / 32;
  std::vector<BlockQ4_0> w(rows * nb);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t b = 0; b < nb; ++b) {
      BlockQ4_0& blk = w[r * nb + b];
      blk.d = static_cast<uint16_t>(1000 + r * 10 + b);
      for (size_t j = 0; j < 16; ++j) blk.qs[j] = static_cast<uint8_t>((r * 16 + b * 7 + j) & 0xFF);
    }
  }
  std::vector<uint8_t> packed(w.size() * sizeof(BlockQ4_0));
  pack_q4_0x8(w.data(), rows, cols, packed.data());
  ASSERT_EQ(packed.size(), rows / 8 * nb * kQ4_0x8BlockBytes);
  for (size_t g = 0; g < rows / 8; ++g) {
    for (size_t b = 0; b < nb; ++b) {
      const uint8_t* p = packed.data() + (g * nb + b) * kQ4_0x8BlockBytes;
      for (size_t r = 0; r < 8; ++r) {
        const BlockQ4_0& blk = w[(g * 8 + r) * nb + b];
        uint16_t d;
        std::memcpy(&d, p + 2 * r, 2);
        EXPECT_EQ(d, blk.d);
        for (size_t j = 0; j < 16; ++j) EXPECT_EQ(p[16 + 32 * (j / 4) + 4 * r + j % 4], blk.qs[j]);
      }
    }
  }
}

TEST(PackedQ4_0, SimdQuantizerMatchesRefBitForBit) {
  const size_t nb = 64;
  std::vector<float> x = activations(nb * 32, 3);
  // A block whose maximum is 127 scales by exactly 1: its k + 0.5 values are
  // rounding ties, which both must break to even.
  float* last = x.data() + (nb - 1) * 32;
  for (size_t j = 0; j < 32; ++j) last[j] = static_cast<float>(j) - 15.5f;
  last[0] = 127.0f;
  std::vector<BlockQ8_0x> want(nb), got(nb);
  std::vector<float> ws(nb), gs(nb);
  std::vector<int32_t> wn(nb), gn(nb);
  ref::quantize_q8_0_blocks(x.data(), nb, want.data(), ws.data(), wn.data());
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd_target_name());
    quantize_q8_0_blocks(x.data(), nb, got.data(), gs.data(), gn.data());
    for (size_t b = 0; b < nb; ++b) {
      ASSERT_EQ(got[b].d, want[b].d) << b;
      ASSERT_EQ(std::memcmp(got[b].qs, want[b].qs, 32), 0) << b;
      ASSERT_EQ(gs[b], ws[b]) << b;
      ASSERT_EQ(gn[b], wn[b]) << b;
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Token counts around the kernel's 4-token tile, serial and on a pool.
TEST(PackedQ4_0, MatchesTheRowMajorIntegerDotOnEveryTarget) {
  const size_t rows = 48, cols = 320, nb = cols / 32, rb = nb * sizeof(BlockQ4_0);
  const auto w = qtest::random_blocks(TensorType::kQ4_0, rows * nb, 21);
  std::vector<uint8_t> packed(w.size());
  pack_q4_0x8(w.data(), rows, cols, packed.data());
  ThreadPool pool(3);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd_target_name());
    for (size_t n_tokens : {1, 2, 4, 7, 13}) {
      const std::vector<float> x = activations(cols * n_tokens, static_cast<uint32_t>(n_tokens));
      QuantizedActivations q;
      quantize_activations(ActivationType::kQ8_0, x.data(), cols, n_tokens, &q);
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        std::vector<float> y(rows * n_tokens, NAN);
        matmul_q4_0x8(packed.data(), rows, cols, x.data(), n_tokens, y.data(), p);
        for (size_t t = 0; t < n_tokens; ++t) {
          for (size_t r = 0; r < rows; ++r) {
            const uint8_t* row = w.data() + r * rb;
            const float want = ref::dot_row_q8(TensorType::kQ4_0, row, q.row(t), cols);
            const double tol = 1e-5 * qtest::dot_magnitude(TensorType::kQ4_0, row, x.data() + t * cols, cols) + 1e-6;
            ASSERT_NEAR(y[t * rows + r], want, tol) << "tokens " << n_tokens << " t " << t << " r " << r;
          }
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace
}  // namespace kvforge::core

// Activation quantization (q8_0 / q8_K) and the integer dot products: codes
// are exactly what round_activations implies, requantizing rounded values is a
// no-op, the scalar dots equal a double-precision dot of the dequantized
// weights and rounded activations, and every compiled SIMD target equals the
// scalar reference.
#include "kvforge/core/quantized_activations.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/kernels_ref.h"
#include "core/quant_blocks.h"
#include "kvforge/core/half.h"
#include "kvforge/core/kernels.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::core {
namespace {

// Every quantized type a GGUF may hold has an integer dot.
constexpr TensorType kTypes[] = {TensorType::kQ8_0, TensorType::kQ4_0, TensorType::kQ4_K,  TensorType::kQ6_K,
                                 TensorType::kQ4_1, TensorType::kQ5_0, TensorType::kQ5_1,  TensorType::kIQ4_NL,
                                 TensorType::kQ2_K, TensorType::kQ3_K, TensorType::kQ5_K};

TEST(QuantizedActivations, EveryQuantizedTypeHasAnIntegerDot) {
  for (TensorType type : kTypes) EXPECT_TRUE(has_q8_dot(type)) << tensor_type_name(type);
  for (TensorType type : {TensorType::kF32, TensorType::kF16, TensorType::kBF16}) EXPECT_FALSE(has_q8_dot(type));
}

// Activations with the features that stress a quantizer: a wide range of
// magnitudes, an all-zero block, exact ties at the block maximum, negatives.
std::vector<float> activations(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> e(-6.0f, 3.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng) * std::pow(10.0f, e(rng) / 3.0f);
  if (n >= 512) {
    std::fill(x.begin() + 256, x.begin() + 288, 0.0f);  // a zero q8_0 block, half a q8_K block
    x[300] = 50.0f;
    x[301] = -50.0f;  // equal magnitudes: the first one found sets the q8_K sign
  }
  return x;
}

TEST(QuantizedActivations, DequantizedEqualsRoundActivations) {
  for (ActivationType type : {ActivationType::kQ8_0, ActivationType::kQ8_K}) {
    for (uint32_t seed = 1; seed <= 5; ++seed) {
      const size_t n = 1024, rows = 2;
      const std::vector<float> x = activations(n * rows, seed);
      QuantizedActivations q;
      quantize_activations(type, x.data(), n, rows, &q);
      std::vector<float> rounded(n * rows), back(n);
      round_activations(type, x.data(), rounded.data(), n * rows);
      for (size_t t = 0; t < rows; ++t) {
        dequantize_activations(q.row(t), back.data());
        // Exactly equal floats; the one bit pattern allowed to differ is the
        // sign of a zero (round_activations keeps nearbyint's -0, an int8 code
        // cannot), which no product can see.
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(back[i], rounded[t * n + i]) << activation_type_name(type) << " seed " << seed << " " << i;
          if (back[i] != 0.0f) {
            ASSERT_EQ(std::memcmp(&back[i], &rounded[t * n + i], sizeof(float)), 0);
          }
        }
      }
    }
  }
}

// Equal floats, and equal bits unless zero: SSSE3's emulated Round may drop the
// sign of a zero, which no product can see.
void expect_same_values(const std::vector<float>& got, const std::vector<float>& want) {
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], want[i]) << i;
    if (want[i] != 0.0f) {
      ASSERT_EQ(std::memcmp(&got[i], &want[i], sizeof(float)), 0) << i;
    }
  }
}

// The SIMD rounding is the scalar definition lane by lane, on every compiled target.
TEST(QuantizedActivations, SimdRoundingMatchesRefBitForBit) {
  const std::vector<float> x = activations(2048, 11);
  std::vector<float> want0(x.size()), wantk(x.size()), got(x.size());
  ref::round_q8_0(x.data(), want0.data(), x.size());
  ref::round_q8_k(x.data(), wantk.data(), x.size());
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd_target_name());
    round_activations(ActivationType::kQ8_0, x.data(), got.data(), x.size());
    expect_same_values(got, want0);
    round_activations(ActivationType::kQ8_K, x.data(), got.data(), x.size());
    expect_same_values(got, wantk);
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(QuantizedActivations, BlockSumsAreCodeSums) {
  const std::vector<float> x = activations(512, 7);
  QuantizedActivations q;
  quantize_activations(ActivationType::kQ8_K, x.data(), 512, 1, &q);
  const auto* b = reinterpret_cast<const BlockQ8_K*>(q.storage.data());
  for (size_t i = 0; i < 2; ++i) {
    for (size_t g = 0; g < 16; ++g) {
      int sum = 0;
      for (size_t j = 0; j < 16; ++j) sum += b[i].qs[16 * g + j];
      EXPECT_EQ(b[i].bsums[g], sum);
    }
  }
}

// matvec quantizes activations its caller already rounded; the codes and the
// value each element stands for must not move. (A q8_K block whose rounded
// maximum ties in magnitude with an earlier element of the other sign flips
// every code and the scale's sign together; d * q is unchanged.)
TEST(QuantizedActivations, RequantizingRoundedValuesKeepsCodes) {
  for (ActivationType type : {ActivationType::kQ8_0, ActivationType::kQ8_K}) {
    for (uint32_t seed = 1; seed <= 20; ++seed) {
      const size_t n = 1024;
      const std::vector<float> x = activations(n, seed);
      std::vector<float> rounded(n), twice(n), back(n);
      round_activations(type, x.data(), rounded.data(), n);
      QuantizedActivations q1, q2;
      quantize_activations(type, x.data(), n, 1, &q1);
      quantize_activations(type, rounded.data(), n, 1, &q2);
      dequantize_activations(q2.row(0), back.data());
      for (size_t i = 0; i < n; ++i) {
        ASSERT_NEAR(back[i], rounded[i], std::fabs(rounded[i]) * 1e-6f) << activation_type_name(type) << " " << i;
      }
      if (type == ActivationType::kQ8_0) {
        ASSERT_EQ(q1.storage, q2.storage) << "seed " << seed;
        continue;
      }
      const auto* a = reinterpret_cast<const BlockQ8_K*>(q1.storage.data());
      const auto* b = reinterpret_cast<const BlockQ8_K*>(q2.storage.data());
      for (size_t k = 0; k < n / 256; ++k) {
        const int sign = (a[k].d < 0) == (b[k].d < 0) ? 1 : -1;
        for (size_t j = 0; j < 256; ++j) ASSERT_EQ(a[k].qs[j], sign * b[k].qs[j]) << "seed " << seed << " " << j;
        ASSERT_NEAR(a[k].d, sign * b[k].d, std::fabs(a[k].d) * 2.4e-7f);
      }
    }
  }
}

double dot_tolerance(TensorType type, const uint8_t* row, const float* x, size_t n) {
  return 1e-5 * qtest::dot_magnitude(type, row, x, n) + 1e-6;
}

TEST(QuantizedActivations, RefMatchesDoubleDotOfRoundedValues) {
  for (TensorType type : kTypes) {
    for (size_t n_blocks : {1, 3, 8}) {
      const size_t n = n_blocks * 256;
      const auto w = qtest::random_blocks(type, n / static_cast<size_t>(tensor_type_block_elems(type)), 11);
      const std::vector<float> x = activations(n, 13);
      std::vector<float> wf(n), xr(n);
      ref::dequantize_row(type, w.data(), wf.data(), n);
      round_activations(activation_type_for(type), x.data(), xr.data(), n);
      double want = 0.0;
      for (size_t i = 0; i < n; ++i) want += static_cast<double>(wf[i]) * xr[i];
      QuantizedActivations q;
      quantize_activations(activation_type_for(type), x.data(), n, 1, &q);
      EXPECT_NEAR(ref::dot_row_q8(type, w.data(), q.row(0), n), want, dot_tolerance(type, w.data(), xr.data(), n))
          << tensor_type_name(type) << " blocks " << n_blocks;
    }
  }
}

void expect_simd_matches_ref(TensorType type, size_t n_blocks, uint32_t seed, size_t misalign) {
  const size_t n = n_blocks * 256;
  const auto blocks = qtest::random_blocks(type, n / static_cast<size_t>(tensor_type_block_elems(type)), seed);
  std::vector<uint8_t> buf(blocks.size() + misalign);
  std::memcpy(buf.data() + misalign, blocks.data(), blocks.size());
  const uint8_t* row = buf.data() + misalign;  // file rows sit at any even offset
  const std::vector<float> x = activations(n, seed + 1);
  std::vector<float> xr(n);
  round_activations(activation_type_for(type), x.data(), xr.data(), n);
  QuantizedActivations q;
  quantize_activations(activation_type_for(type), x.data(), n, 1, &q);
  EXPECT_NEAR(dot_row_q8(type, row, q.row(0), n), ref::dot_row_q8(type, row, q.row(0), n),
              dot_tolerance(type, row, xr.data(), n))
      << tensor_type_name(type) << " blocks " << n_blocks << " misalign " << misalign;
}

TEST(QuantizedActivations, SimdMatchesRefOnEveryCompiledTarget) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd_target_name());
    for (TensorType type : kTypes) {
      for (size_t n_blocks : {1, 2, 3, 8}) {
        for (size_t misalign : {0, 2}) {
          expect_simd_matches_ref(type, n_blocks, static_cast<uint32_t>(n_blocks * 10 + misalign), misalign);
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the real CPU
}

// matvec / matmul over activations rounded as the model rounds them: whichever
// path the target prefers (integer or fp32; sgemm from 12 tokens), serial or
// threaded, equals the integer reference.
void expect_matmul_matches_q8_ref(TensorType type, ThreadPool* pool);

TEST(QuantizedActivations, MatvecAndMatmulMatchTheIntegerDot) {
  ThreadPool pool(3);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd_target_name());
    for (TensorType type : kTypes) expect_matmul_matches_q8_ref(type, &pool);
  }
  hwy::SetSupportedTargetsForTest(0);
}

void expect_matmul_matches_q8_ref(TensorType type, ThreadPool* pool) {
  {
    const size_t rows = 96, cols = 512, tokens = 20;
    const size_t rb = cols / static_cast<size_t>(tensor_type_block_elems(type)) *
                      static_cast<size_t>(tensor_type_block_bytes(type));
    const auto w = qtest::random_blocks(type, rows * rb / static_cast<size_t>(tensor_type_block_bytes(type)), 5);
    std::vector<float> x = activations(cols * tokens, 9);
    round_activations(activation_type_for(type), x.data(), x.data(), x.size());
    QuantizedActivations q;
    quantize_activations(activation_type_for(type), x.data(), cols, tokens, &q);
    for (size_t n_tokens : {size_t{1}, size_t{5}, tokens}) {
      std::vector<float> y(rows * n_tokens);
      matmul(type, w.data(), rows, cols, x.data(), n_tokens, y.data(), pool);
      for (size_t t = 0; t < n_tokens; ++t) {
        for (size_t r = 0; r < rows; ++r) {
          const uint8_t* row = w.data() + r * rb;
          ASSERT_NEAR(y[t * rows + r], ref::dot_row_q8(type, row, q.row(t), cols),
                      dot_tolerance(type, row, x.data() + t * cols, cols))
              << tensor_type_name(type) << " tokens " << n_tokens << " t " << t << " r " << r;
        }
      }
    }
    std::vector<float> y(rows);
    matvec(type, w.data(), rows, cols, x.data(), y.data(), nullptr);
    for (size_t r = 0; r < rows; ++r) {
      ASSERT_NEAR(y[r], ref::dot_row_q8(type, w.data() + r * rb, q.row(0), cols),
                  dot_tolerance(type, w.data() + r * rb, x.data(), cols));
    }
  }
}

// A decode batch (few tokens) gives each token the bits it gets alone: the
// multi-token kernels share a weight block's unpacking, not the sums' order, so
// a sequence decoded beside others matches itself decoded alone.
TEST(QuantizedActivations, FewTokenMatmulEqualsMatvecPerToken) {
  ThreadPool pool(2);
  const size_t rows = 40, cols = 256;
  for (TensorType type : kTypes) {
    const size_t rb = cols / static_cast<size_t>(tensor_type_block_elems(type)) *
                      static_cast<size_t>(tensor_type_block_bytes(type));
    const auto w = qtest::random_blocks(type, rows * rb / static_cast<size_t>(tensor_type_block_bytes(type)), 3);
    for (size_t n_tokens = 2; n_tokens <= 9; ++n_tokens) {
      std::vector<float> x = activations(cols * n_tokens, static_cast<uint32_t>(n_tokens));
      round_activations(activation_type_for(type), x.data(), x.data(), x.size());
      std::vector<float> y(rows * n_tokens), alone(rows);
      matmul(type, w.data(), rows, cols, x.data(), n_tokens, y.data(), &pool);
      for (size_t t = 0; t < n_tokens; ++t) {
        matvec(type, w.data(), rows, cols, x.data() + t * cols, alone.data(), nullptr);
        for (size_t r = 0; r < rows; ++r) {
          ASSERT_EQ(y[t * rows + r], alone[r]) << tensor_type_name(type) << " tokens " << n_tokens << " t " << t;
        }
      }
    }
  }
}

}  // namespace
}  // namespace kvforge::core

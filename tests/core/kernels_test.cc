#include "kvforge/core/kernels.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/kernels_ref.h"
#include "core/quant_blocks.h"
#include "kvforge/core/activation_rounding.h"
#include "kvforge/core/half.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::core {
namespace {

using qtest::random_floats;

size_t row_bytes(TensorType type, size_t cols) {
  return cols / static_cast<size_t>(tensor_type_block_elems(type)) * static_cast<size_t>(tensor_type_block_bytes(type));
}

// A rows x cols matrix in `type`, from random values (types without a
// reference quantizer: random blocks with sane fp16 scales).
std::vector<uint8_t> make_matrix(TensorType type, size_t rows, size_t cols, uint32_t seed) {
  const size_t rb = row_bytes(type, cols);
  std::vector<uint8_t> out(rows * rb);
  const std::vector<float> v = random_floats(rows * cols, seed);
  std::mt19937 rng(seed ^ 0x9E3779B9u);
  for (size_t r = 0; r < rows; ++r) {
    const float* src = v.data() + r * cols;
    uint8_t* dst = out.data() + r * rb;
    switch (type) {
      case TensorType::kF32: std::memcpy(dst, src, cols * 4); break;
      case TensorType::kF16:
        for (size_t i = 0; i < cols; ++i) {
          const uint16_t h = f32_to_fp16(src[i]);
          std::memcpy(dst + 2 * i, &h, 2);
        }
        break;
      case TensorType::kBF16:
        for (size_t i = 0; i < cols; ++i) {
          const uint16_t h = f32_to_bf16(src[i]);
          std::memcpy(dst + 2 * i, &h, 2);
        }
        break;
      case TensorType::kQ8_0: ref::quantize_row_q8_0(src, dst, cols); break;
      case TensorType::kQ4_0: ref::quantize_row_q4_0(src, dst, cols); break;
      default: {
        const size_t blocks = cols / static_cast<size_t>(tensor_type_block_elems(type));
        const auto blk = qtest::random_blocks(type, blocks, static_cast<uint32_t>(rng()));
        std::memcpy(dst, blk.data(), blk.size());
        break;
      }
    }
  }
  return out;
}

// Tolerance for a dot product: relative to the sum of |products| (and of the
// block offsets the fast kernels factor out), which bounds the rounding error
// of any summation order.
double dot_tol(TensorType type, const void* row, const float* x, size_t n) {
  return qtest::dot_tolerance(type, row, x, n);
}

const TensorType kAllTypes[] = {TensorType::kF32,  TensorType::kF16,  TensorType::kBF16,  TensorType::kQ8_0,
                                TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ5_0,  TensorType::kQ5_1,
                                TensorType::kIQ4_NL, TensorType::kQ2_K, TensorType::kQ3_K, TensorType::kQ4_K,
                                TensorType::kQ5_K, TensorType::kQ6_K};

std::vector<size_t> col_sizes(TensorType type) {
  const size_t block = static_cast<size_t>(tensor_type_block_elems(type));
  if (block == 1) return {1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 100, 255, 256, 257, 1000, 4099};
  if (block == 32) return {32, 64, 96, 160, 256, 288, 2048, 4128};
  return {256, 512, 768, 2048};
}

// The dispatcher picks the best target this CPU runs among those compiled, and
// reports the one it runs: forcing each compiled target in turn must be seen.
TEST(Kernels, SimdTargetNameIsTheDispatchedTarget) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  EXPECT_EQ(std::string(simd_target_name()), hwy::TargetName(targets.front()));  // the best one
  std::printf("SIMD target: %s\n", simd_target_name());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    EXPECT_EQ(std::string(simd_target_name()), hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_EQ(std::string(simd_target_name()), hwy::TargetName(targets.front()));
}

TEST(Kernels, DotF32MatchesRef) {
  for (size_t n : {0, 1, 2, 3, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 1000, 4097}) {
    const auto a = random_floats(n, 1 + static_cast<uint32_t>(n));
    const auto b = random_floats(n, 1000 + static_cast<uint32_t>(n));
    EXPECT_NEAR(dot_f32(a.data(), b.data(), n), ref::dot_f32(a.data(), b.data(), n),
                dot_tol(TensorType::kF32, a.data(), b.data(), n))
        << n;
  }
}

TEST(Kernels, DequantizeMatchesRef) {
  for (TensorType type : kAllTypes) {
    for (size_t n : col_sizes(type)) {
      const auto w = make_matrix(type, 1, n, 7 + static_cast<uint32_t>(n));
      std::vector<float> fast(n), slow(n);
      dequantize_row(type, w.data(), fast.data(), n);
      ref::dequantize_row(type, w.data(), slow.data(), n);
      for (size_t i = 0; i < n; ++i) {
        // Exact except Q4_K, where a fused multiply-subtract may round once less
        // (quant_types_test holds the newer types to bit equality).
        ASSERT_NEAR(fast[i], slow[i], 1e-6f * (1.0f + std::fabs(slow[i]))) << tensor_type_name(type) << " n=" << n << " i=" << i;
      }
    }
  }
}

TEST(Kernels, DotRowMatchesRef) {
  for (TensorType type : kAllTypes) {
    for (size_t n : col_sizes(type)) {
      const auto w = make_matrix(type, 1, n, 11 + static_cast<uint32_t>(n));
      const auto x = random_floats(n, 99 + static_cast<uint32_t>(n));
      EXPECT_NEAR(dot_row(type, w.data(), x.data(), n), ref::dot_row(type, w.data(), x.data(), n),
                  dot_tol(type, w.data(), x.data(), n))
          << tensor_type_name(type) << " n=" << n;
    }
  }
}

TEST(Kernels, DotRowUnalignedRow) {
  // Rows inside a file need not be aligned beyond 2 bytes.
  for (TensorType type : kAllTypes) {
    const size_t n = static_cast<size_t>(tensor_type_block_elems(type)) * 8;
    const auto w = make_matrix(type, 1, n, 5);
    // F32 rows are still float-aligned (GGUF aligns tensor data).
    const size_t shift = type == TensorType::kF32 ? 4 : 2;
    std::vector<uint8_t> shifted(w.size() + shift);
    std::memcpy(shifted.data() + shift, w.data(), w.size());
    const auto x = random_floats(n, 6);
    EXPECT_NEAR(dot_row(type, shifted.data() + shift, x.data(), n), ref::dot_row(type, w.data(), x.data(), n),
                dot_tol(type, w.data(), x.data(), n));
  }
}

// Activations as the model passes them: rounded to the weight type's activation
// format, which the integer-dot types (Q8_0, Q4_0, Q4_K, Q6_K) quantize to again.
std::vector<float> rounded_floats(TensorType type, size_t n, uint32_t seed) {
  auto x = random_floats(n, seed);
  round_activations(activation_type_for(type), x.data(), x.data(), n);
  return x;
}

void check_matvec(TensorType type, size_t rows, size_t cols, ThreadPool* pool) {
  const auto w = make_matrix(type, rows, cols, static_cast<uint32_t>(rows * 31 + cols));
  const auto x = rounded_floats(type, cols, static_cast<uint32_t>(cols));
  std::vector<float> fast(rows, -1.0f), slow(rows);
  matvec(type, w.data(), rows, cols, x.data(), fast.data(), pool);
  ref::matvec(type, w.data(), rows, cols, x.data(), slow.data());
  const size_t rb = row_bytes(type, cols);
  for (size_t r = 0; r < rows; ++r) {
    ASSERT_NEAR(fast[r], slow[r], dot_tol(type, w.data() + r * rb, x.data(), cols))
        << tensor_type_name(type) << " rows=" << rows << " cols=" << cols << " r=" << r;
  }
}

TEST(Kernels, MatvecMatchesRef) {
  ThreadPool pool2(2), pool3(3);
  for (TensorType type : kAllTypes) {
    const size_t block = static_cast<size_t>(tensor_type_block_elems(type));
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2, &pool3}) {
      check_matvec(type, 1, block * 4, pool);
      check_matvec(type, 37, block * 3, pool);
      check_matvec(type, 301, block == 256 ? 1024 : 2048, pool);  // large enough to go parallel
    }
  }
  check_matvec(TensorType::kF32, 19, 33, &pool2);
  check_matvec(TensorType::kF16, 19, 45, &pool2);
}

void check_matmul(TensorType type, size_t rows, size_t cols, size_t n_tokens, ThreadPool* pool) {
  const auto w = make_matrix(type, rows, cols, static_cast<uint32_t>(rows + cols + n_tokens));
  const auto x = rounded_floats(type, cols * n_tokens, static_cast<uint32_t>(n_tokens * 7 + 3));
  std::vector<float> fast(rows * n_tokens, -1.0f), slow(rows * n_tokens);
  matmul(type, w.data(), rows, cols, x.data(), n_tokens, fast.data(), pool);
  ref::matmul(type, w.data(), rows, cols, x.data(), n_tokens, slow.data());
  const size_t rb = row_bytes(type, cols);
  for (size_t t = 0; t < n_tokens; ++t) {
    for (size_t r = 0; r < rows; ++r) {
      ASSERT_NEAR(fast[t * rows + r], slow[t * rows + r], dot_tol(type, w.data() + r * rb, x.data() + t * cols, cols))
          << tensor_type_name(type) << " tokens=" << n_tokens << " t=" << t << " r=" << r;
    }
  }
}

TEST(Kernels, MatmulMatchesRef) {
  ThreadPool pool(2);
  for (TensorType type : kAllTypes) {
    const size_t cols = tensor_type_block_elems(type) == 256 ? 512 : 256;
    for (size_t n_tokens : {1, 2, 5, 11, 12, 17, 33}) {  // matvec path and sgemm path
      check_matmul(type, 67, cols, n_tokens, &pool);
      check_matmul(type, 40, cols, n_tokens, nullptr);
    }
  }
  check_matmul(TensorType::kF32, 13, 33, 20, &pool);  // odd K through sgemm
}

TEST(Kernels, MatmulZeroTokensIsNoop) {
  std::vector<float> w(64, 1.0f), y(2, 5.0f);
  matmul(TensorType::kF32, w.data(), 2, 32, nullptr, 0, y.data(), nullptr);
  EXPECT_EQ(y[0], 5.0f);
}

TEST(Kernels, AxpyScale) {
  for (size_t n : {0, 1, 7, 16, 17, 100, 1025}) {
    auto x = random_floats(n, 3), y = random_floats(n, 4);
    auto y2 = y;
    axpy_f32(0.75f, x.data(), y.data(), n);
    ref::axpy_f32(0.75f, x.data(), y2.data(), n);
    for (size_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], y2[i], 1e-6f);
    auto z = x;
    scale_f32(x.data(), -1.5f, n);
    ref::scale_f32(z.data(), -1.5f, n);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(x[i], z[i]);
  }
}

TEST(Kernels, SoftmaxMatchesRef) {
  softmax_f32(nullptr, 0);
  for (size_t n : {1, 2, 5, 16, 17, 100, 1000, 4097}) {
    auto x = random_floats(n, static_cast<uint32_t>(n), 20.0f);
    auto r = x;
    softmax_f32(x.data(), n);
    ref::softmax_f32(r.data(), n);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      ASSERT_NEAR(x[i], r[i], 1e-6f + 1e-5f * r[i]) << n << " " << i;
      sum += x[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-4);
  }
  std::vector<float> big = {1000.0f, 1000.0f, -1000.0f};  // max-subtraction keeps it finite
  softmax_f32(big.data(), big.size());
  EXPECT_FLOAT_EQ(big[0], 0.5f);
  EXPECT_EQ(big[2], 0.0f);
}

TEST(Kernels, RmsnormMatchesRefAndAliases) {
  for (size_t n : {1, 3, 16, 17, 64, 288, 2049}) {
    const auto x = random_floats(n, 5), w = random_floats(n, 6);
    std::vector<float> out(n), r(n);
    rmsnorm_f32(out.data(), x.data(), w.data(), n, 1e-5f);
    ref::rmsnorm_f32(r.data(), x.data(), w.data(), n, 1e-5f);
    for (size_t i = 0; i < n; ++i) ASSERT_NEAR(out[i], r[i], 1e-5f * (1.0f + std::fabs(r[i])));
    auto inplace = x;
    rmsnorm_f32(inplace.data(), inplace.data(), w.data(), n, 1e-5f);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(inplace[i], out[i]);
  }
}

TEST(Kernels, RopeMatchesRefExactly) {
  for (int head_dim : {2, 8, 64, 128}) {
    for (int pos : {0, 1, 17, 1000, 4095}) {
      for (float theta : {10000.0f, 500000.0f}) {
        const int n_heads = 3;
        auto x = random_floats(static_cast<size_t>(n_heads * head_dim), static_cast<uint32_t>(pos + head_dim));
        auto r = x;
        rope_f32(x.data(), n_heads, head_dim, pos, theta);
        ref::rope_f32(r.data(), n_heads, head_dim, pos, theta);
        for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], r[i]) << head_dim << " " << pos << " " << i;
      }
    }
  }
  // pos 0 is the identity; pos 1 rotates pair 0 by exactly 1 radian.
  std::vector<float> v = {1.0f, 0.0f, 0.5f, 0.25f};
  rope_f32(v.data(), 1, 4, 0, 10000.0f);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[3], 0.25f);
  rope_f32(v.data(), 1, 4, 1, 10000.0f);
  EXPECT_FLOAT_EQ(v[0], std::cos(1.0f));
  EXPECT_FLOAT_EQ(v[1], std::sin(1.0f));
}

TEST(Kernels, SiluMulMatchesRef) {
  for (size_t n : {0, 1, 15, 16, 17, 100, 5632}) {
    auto g = random_floats(n, 8, 10.0f), u = random_floats(n, 9);
    auto r = g;
    silu_mul_f32(g.data(), u.data(), n);
    ref::silu_mul_f32(r.data(), u.data(), n);
    for (size_t i = 0; i < n; ++i) ASSERT_NEAR(g[i], r[i], 1e-6f + 1e-5f * std::fabs(r[i]));
  }
}

TEST(Kernels, SiluAndSoftmaxExtremes) {
  std::vector<float> g = {-200.0f, -100.0f, -89.0f, 100.0f, 30.0f, -30.0f, 0.0f, 1.0f,
                          2.0f,    3.0f,    4.0f,   5.0f,   6.0f,  7.0f,   8.0f, 9.0f, -1000.0f};
  std::vector<float> up(g.size(), 2.0f);
  auto r = g;
  silu_mul_f32(g.data(), up.data(), g.size());
  ref::silu_mul_f32(r.data(), up.data(), r.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], r[i], 1e-6f + 1e-5f * std::fabs(r[i])) << i;
  std::vector<float> s(33, -INFINITY);  // masked scores
  s[3] = 1.0f;
  s[32] = 1.0f;
  s[7] = -1e30f;
  softmax_f32(s.data(), s.size());
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i], (i == 3 || i == 32) ? 0.5f : 0.0f) << i;
}

// Machines without AVX-512 take other code paths; run the row kernels under
// every target this CPU can execute.
TEST(Kernels, EveryCompiledTargetMatchesRef) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd_target_name());
    for (TensorType type : kAllTypes) {
      const size_t n = tensor_type_block_elems(type) == 256 ? 512 : 96;
      const auto w = make_matrix(type, 3, n, 21);
      const auto x = rounded_floats(type, n, 22);
      std::vector<float> fast(3), slow(3), dq(n), dq_ref(n);
      matvec(type, w.data(), 3, n, x.data(), fast.data(), nullptr);
      ref::matvec(type, w.data(), 3, n, x.data(), slow.data());
      for (size_t r = 0; r < 3; ++r) {
        EXPECT_NEAR(fast[r], slow[r], dot_tol(type, w.data() + r * row_bytes(type, n), x.data(), n))
            << tensor_type_name(type);
      }
      dequantize_row(type, w.data(), dq.data(), n);
      ref::dequantize_row(type, w.data(), dq_ref.data(), n);
      for (size_t i = 0; i < n; ++i) ASSERT_NEAR(dq[i], dq_ref[i], 1e-6f * (1.0f + std::fabs(dq_ref[i])));
    }
    std::vector<float> h(37), back(37);
    std::vector<uint16_t> bits(37);
    for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<float>(i) * 0.37f - 5.0f;
    h[3] = INFINITY;
    h[4] = 1e-7f;  // fp16 subnormal
    f32_to_fp16_row(h.data(), bits.data(), h.size());
    fp16_to_f32_row(bits.data(), back.data(), h.size());
    for (size_t i = 0; i < h.size(); ++i) {
      ASSERT_EQ(bits[i], f32_to_fp16(h[i])) << i;
      ASSERT_EQ(back[i], fp16_to_f32(bits[i])) << i;
    }
    auto sm = random_floats(50, 3, 5.0f), sm_ref = sm;
    softmax_f32(sm.data(), sm.size());
    ref::softmax_f32(sm_ref.data(), sm_ref.size());
    for (size_t i = 0; i < sm.size(); ++i) ASSERT_NEAR(sm[i], sm_ref[i], 1e-6f + 1e-5f * sm_ref[i]);
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the real CPU
}

}  // namespace
}  // namespace kvforge::core

// Vectorized row kernels (dot, dequantize, matvec, matmul), compiled once per
// SIMD target (Highway foreach_target) and dispatched at run time; never built
// with -march=native. The per-type dots are in kernels_dot_simd-inl.h and
// kernels_quant_simd.cc, the element-wise kernels in kernels_vector_simd.cc.
//
// Matvec is memory bound at decode time, so the kernels aim to stream weight
// rows at full bandwidth: several independent accumulators hide FMA latency,
// rows are read front to back (hardware prefetch friendly), and quantized
// blocks are widened in registers rather than dequantized to memory.
#include "kvforge/core/kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/kernels_gemm.h"
#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/quantized_activations.h"
#include "kvforge/core/status.h"
#include "kvforge/core/thread_pool.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/cache_control.h>

#include "core/kernels_dot_simd-inl.h"
#include "core/kernels_quant_simd.h"

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE float DotRowT(TensorType type, const void* row, const float* x, size_t n) {
  switch (type) {
    case TensorType::kF32: return DotF32(static_cast<const float*>(row), x, n);
    case TensorType::kF16: return Dot16<hwy::float16_t>(static_cast<const uint16_t*>(row), x, n);
    case TensorType::kBF16: return Dot16<hwy::bfloat16_t>(static_cast<const uint16_t*>(row), x, n);
    case TensorType::kQ8_0: return DotQ8_0(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kQ4_0: return DotQ4_0(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kQ4_K: return DotQ4_K(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kQ4_1: return DotQ4_1(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kQ5_0: return DotQ5_0(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kQ5_1: return DotQ5_1(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kIQ4_NL: return DotIQ4_NL(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kQ2_K: return DotQ2_K(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kQ3_K: return DotQ3_K(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kQ5_K: return DotQ5_K(static_cast<const uint8_t*>(row), x, n);
    case TensorType::kQ6_K: return DotQ6_K(static_cast<const uint8_t*>(row), x, n);
  }
  return 0.0f;
}

float DotRow(TensorType type, const void* row, const float* x, size_t n) { return DotRowT(type, row, x, n); }

void DequantizeRow(TensorType type, const void* row, float* out, size_t n) {
  const DQ d;
  const hn::Rebind<int8_t, DQ> ds8;
  const hn::Rebind<uint8_t, DQ> du8;
  const hn::Rebind<int32_t, DQ> di;
  const size_t N = hn::Lanes(d);
  const auto* p = static_cast<const uint8_t*>(row);
  if (n == 0) return;  // callers may pass null pointers for empty rows
  switch (type) {
    case TensorType::kF32:
      std::memcpy(out, row, n * sizeof(float));
      return;
    case TensorType::kF16:
      fp16_to_f32_row(static_cast<const uint16_t*>(row), out, n);
      return;
    case TensorType::kBF16:
      bf16_to_f32_row(static_cast<const uint16_t*>(row), out, n);
      return;
    case TensorType::kQ8_0:
      for (size_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + b * 34;
        const auto scale = hn::Set(d, LoadHalf(blk));
        const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
        for (size_t j = 0; j < 32; j += N) {
          hn::StoreU(hn::Mul(scale, hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(ds8, qs + j)))), d,
                     out + b * 32 + j);
        }
      }
      return;
    case TensorType::kQ4_0: {
      const auto k15 = hn::Set(di, 15);
      const auto k8 = hn::Set(di, 8);
      for (size_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + b * 18;
        const auto scale = hn::Set(d, LoadHalf(blk));
        for (size_t j = 0; j < 16; j += N) {
          const auto bytes = hn::PromoteTo(di, hn::LoadU(du8, blk + 2 + j));
          hn::StoreU(hn::Mul(hn::ConvertTo(d, hn::Sub(hn::And(bytes, k15), k8)), scale), d, out + b * 32 + j);
          hn::StoreU(hn::Mul(hn::ConvertTo(d, hn::Sub(hn::ShiftRight<4>(bytes), k8)), scale), d,
                     out + b * 32 + 16 + j);
        }
      }
      return;
    }
    case TensorType::kQ4_K: {
      const auto k15 = hn::Set(di, 15);
      for (size_t b = 0; b < n / 256; ++b) {
        const uint8_t* blk = p + b * 144;
        const float dall = LoadHalf(blk);
        const float dmin = LoadHalf(blk + 2);
        const uint8_t* q = blk + 16;
        float* y = out + b * 256;
        for (int j = 0; j < 8; j += 2) {
          uint8_t sc1, m1, sc2, m2;
          ref::q4_k_scale_min(j, blk + 4, &sc1, &m1);
          ref::q4_k_scale_min(j + 1, blk + 4, &sc2, &m2);
          const auto d1 = hn::Set(d, dall * sc1), mm1 = hn::Set(d, dmin * m1);
          const auto d2 = hn::Set(d, dall * sc2), mm2 = hn::Set(d, dmin * m2);
          for (size_t l = 0; l < 32; l += N) {
            const auto bytes = hn::PromoteTo(di, hn::LoadU(du8, q + l));
            // Multiply then subtract (not fused) to match the reference exactly.
            hn::StoreU(hn::Sub(hn::Mul(d1, hn::ConvertTo(d, hn::And(bytes, k15))), mm1), d, y + l);
            hn::StoreU(hn::Sub(hn::Mul(d2, hn::ConvertTo(d, hn::ShiftRight<4>(bytes))), mm2), d, y + 32 + l);
          }
          q += 32;
          y += 64;
        }
      }
      return;
    }
    case TensorType::kQ4_1: DequantizeQ4_1(p, out, n); return;
    case TensorType::kQ5_0: DequantizeQ5_0(p, out, n); return;
    case TensorType::kQ5_1: DequantizeQ5_1(p, out, n); return;
    case TensorType::kIQ4_NL: DequantizeIQ4_NL(p, out, n); return;
    case TensorType::kQ2_K: DequantizeQ2_K(p, out, n); return;
    case TensorType::kQ3_K: DequantizeQ3_K(p, out, n); return;
    case TensorType::kQ5_K: DequantizeQ5_K(p, out, n); return;
    case TensorType::kQ6_K: DequantizeQ6_K(p, out, n); return;
  }
}

// y[r] for r in [r0, r1).
void MatvecRange(TensorType type, const uint8_t* w, size_t row_bytes, size_t cols, const float* x, float* y,
                 size_t r0, size_t r1) {
  for (size_t r = r0; r < r1; ++r) y[r] = DotRowT(type, w + r * row_bytes, x, cols);
}

// Few-token matmul: each row is read from memory once and reused, from cache,
// for every token.
void MatmulRowsRange(TensorType type, const uint8_t* w, size_t row_bytes, size_t rows, size_t cols,
                     const float* x, size_t n_tokens, float* y, size_t r0, size_t r1) {
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + r * row_bytes;
    for (size_t t = 0; t < n_tokens; ++t) y[t * rows + r] = DotRowT(type, row, x + t * cols, cols);
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cblas.h>

namespace kvforge::core {
HWY_EXPORT(DotF32);
HWY_EXPORT(DotRow);
HWY_EXPORT(DequantizeRow);
HWY_EXPORT(MatvecRange);
HWY_EXPORT(MatmulRowsRange);
HWY_EXPORT(TargetName);

namespace {

size_t row_bytes_of(TensorType type, size_t cols) {
  return cols / static_cast<size_t>(tensor_type_block_elems(type)) * static_cast<size_t>(tensor_type_block_bytes(type));
}

// Below this much work a job's wake-up and join cost more than they save.
constexpr size_t kMinParallelBytes = 64 * 1024;

// Rows per scheduling grain: keeps ranges away from sharing output cache lines.
constexpr size_t kRowGrain = 16;

// From this many tokens on, the tiled GEMM beats reading each row once for all
// tokens (matvec's kernels), whose cost grows with every token.
constexpr size_t kGemmMinTokens = 12;

// OpenBLAS keeps its own threads; match them to our pool so the two never
// oversubscribe the cores. The call is not free, so only make it on change.
void set_blas_threads(int n) {
  static std::atomic<int> current{-1};
  if (current.load(std::memory_order_relaxed) != n) {
    openblas_set_num_threads(n);
    current.store(n, std::memory_order_relaxed);
  }
}

void run_rows(ThreadPool* pool, size_t rows, size_t bytes, const std::function<void(size_t, size_t)>& fn) {
  if (pool == nullptr || pool->size() == 1 || bytes < kMinParallelBytes) {
    fn(0, rows);
    return;
  }
  pool->parallel_for(rows, fn, kRowGrain);
}

// Quantized weights with an integer dot: the activations are quantized once
// per token (the caller's rounded values requantize to the same codes) and
// every row is dotted in int8 against all tokens, as llama.cpp does.
void matvec_q8(TensorType type, const void* w, size_t rows, size_t cols, const float* x, size_t n_tokens, float* y,
               ThreadPool* pool) {
  thread_local QuantizedActivations q;  // reused: no allocation per call
  quantize_activations(activation_type_for(type), x, cols, n_tokens, &q, pool);
  matmul_q8(type, w, rows, cols, q, y, pool);
}

}  // namespace

float dot_f32(const float* a, const float* b, size_t n) { return HWY_DYNAMIC_DISPATCH(DotF32)(a, b, n); }

// Scalar and compiled for the baseline ISA on purpose: the angles and the
// rotation must match llama2.c bit for bit (no FMA contraction, same libm calls).
void rope_f32(float* x, int n_heads, int head_dim, int pos, float theta) {
  constexpr int kMaxPairs = 512;
  const int n_pairs = head_dim / 2;
  if (n_pairs > kMaxPairs) {
    ref::rope_f32(x, n_heads, head_dim, pos, theta);
    return;
  }
  float fcr[kMaxPairs], fci[kMaxPairs];
  for (int p = 0; p < n_pairs; ++p) {
    const int i = 2 * p;
    const float freq = 1.0f / powf(theta, static_cast<float>(i) / static_cast<float>(head_dim));
    const float val = static_cast<float>(pos) * freq;
    fcr[p] = cosf(val);
    fci[p] = sinf(val);
  }
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<size_t>(h) * static_cast<size_t>(head_dim);
    for (int p = 0; p < n_pairs; ++p) {
      const float v0 = v[2 * p];
      const float v1 = v[2 * p + 1];
      v[2 * p] = v0 * fcr[p] - v1 * fci[p];
      v[2 * p + 1] = v0 * fci[p] + v1 * fcr[p];
    }
  }
}

void dequantize_row(TensorType type, const void* row, float* out, size_t n) {
  KVF_CHECK(n % static_cast<size_t>(tensor_type_block_elems(type)) == 0);
  HWY_DYNAMIC_DISPATCH(DequantizeRow)(type, row, out, n);
}

float dot_row(TensorType type, const void* row, const float* x, size_t n) {
  KVF_CHECK(n % static_cast<size_t>(tensor_type_block_elems(type)) == 0);
  return HWY_DYNAMIC_DISPATCH(DotRow)(type, row, x, n);
}

void matvec(TensorType type, const void* w, size_t rows, size_t cols, const float* x, float* y, ThreadPool* pool) {
  KVF_CHECK(cols % static_cast<size_t>(tensor_type_block_elems(type)) == 0);
  if (has_q8_dot(type)) {
    matvec_q8(type, w, rows, cols, x, 1, y, pool);
    return;
  }
  const size_t rb = row_bytes_of(type, cols);
  const auto* wb = static_cast<const uint8_t*>(w);
  // One captured pointer keeps the std::function in its small buffer (no allocation).
  struct Job {
    // decay: the dispatch expression is a function lvalue under clang, a pointer under gcc.
    std::decay_t<decltype(HWY_DYNAMIC_DISPATCH(MatvecRange))> kernel;
    TensorType type;
    const uint8_t* w;
    size_t rb, cols;
    const float* x;
    float* y;
  } job{HWY_DYNAMIC_DISPATCH(MatvecRange), type, wb, rb, cols, x, y};
  run_rows(pool, rows, rows * rb,
           [&job](size_t r0, size_t r1) { job.kernel(job.type, job.w, job.rb, job.cols, job.x, job.y, r0, r1); });
}

void matmul(TensorType type, const void* w, size_t rows, size_t cols, const float* x, size_t n_tokens, float* y,
            ThreadPool* pool) {
  KVF_CHECK(cols % static_cast<size_t>(tensor_type_block_elems(type)) == 0);
  if (n_tokens == 0 || rows == 0) return;
  const size_t rb = row_bytes_of(type, cols);
  const auto* wb = static_cast<const uint8_t*>(w);
  if (n_tokens == 1) {
    matvec(type, w, rows, cols, x, y, pool);
    return;
  }
  if (n_tokens < kGemmMinTokens && has_q8_dot(type)) {
    matvec_q8(type, w, rows, cols, x, n_tokens, y, pool);
    return;
  }
  if (n_tokens < kGemmMinTokens || cols == 0) {
    struct Job {
      std::decay_t<decltype(HWY_DYNAMIC_DISPATCH(MatmulRowsRange))> kernel;
      TensorType type;
      const uint8_t* w;
      size_t rb, rows, cols;
      const float* x;
      size_t n_tokens;
      float* y;
    } job{HWY_DYNAMIC_DISPATCH(MatmulRowsRange), type, wb, rb, rows, cols, x, n_tokens, y};
    run_rows(pool, rows, rows * rb * n_tokens, [&job](size_t r0, size_t r1) {
      job.kernel(job.type, job.w, job.rb, job.rows, job.cols, job.x, job.n_tokens, job.y, r0, r1);
    });
    return;
  }
  gemm_tiled(type, w, rows, cols, x, n_tokens, y, pool);
}

void gemm_f32(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb, bool b_transposed,
              float* c, size_t ldc, ThreadPool* pool) {
  if (m == 0 || n == 0) return;
  set_blas_threads(pool != nullptr ? pool->size() : 1);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, b_transposed ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f,
              c, static_cast<int>(ldc));
}

const char* simd_target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

}  // namespace kvforge::core
#endif  // HWY_ONCE

// Kernel throughput. Decode-time matvec is memory bound, so matvec reports
// weight bytes read per second, to be read next to the copy/read bandwidth
// benchmarks from the same run. "Cold" variants cycle through enough copies of
// the matrix (>= 512 MiB) that weights come from DRAM, as in a real model;
// the plain variants may be served from the last-level cache.
#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "kvforge/core/half.h"
#include "kvforge/core/kernels.h"
#include "kvforge/core/packed_q4_0.h"
#include "kvforge/core/quantized_activations.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::core {
namespace {

constexpr size_t kColdBytes = 512u << 20;

size_t row_bytes(TensorType type, size_t cols) {
  return cols / static_cast<size_t>(tensor_type_block_elems(type)) * static_cast<size_t>(tensor_type_block_bytes(type));
}

// Valid bytes for every type: fp16/bf16 values and block scales stay small.
std::vector<uint8_t> make_weights(TensorType type, size_t rows, size_t cols, size_t copies) {
  const size_t rb = row_bytes(type, cols);
  std::vector<uint8_t> one(rows * rb);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  const size_t block = static_cast<size_t>(tensor_type_block_bytes(type));
  for (size_t off = 0; off + block <= one.size(); off += block) {
    switch (type) {
      case TensorType::kF32: {
        const float f = dist(rng);
        std::memcpy(&one[off], &f, 4);
        break;
      }
      case TensorType::kF16: {
        const uint16_t h = f32_to_fp16(dist(rng));
        std::memcpy(&one[off], &h, 2);
        break;
      }
      default: {
        for (size_t i = 0; i < block; ++i) one[off + i] = static_cast<uint8_t>(rng());
        const uint16_t d = f32_to_fp16(0.01f);
        std::memcpy(&one[off], &d, 2);
        break;
      }
    }
  }
  std::vector<uint8_t> all(one.size() * copies);
  for (size_t c = 0; c < copies; ++c) std::memcpy(all.data() + c * one.size(), one.data(), one.size());
  return all;
}

void BM_Matvec(benchmark::State& state, TensorType type, bool cold) {
  const size_t rows = static_cast<size_t>(state.range(0));
  const size_t cols = static_cast<size_t>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  const size_t mat_bytes = rows * row_bytes(type, cols);
  const size_t copies = cold ? (kColdBytes + mat_bytes - 1) / mat_bytes : 1;
  const auto w = make_weights(type, rows, cols, copies);
  std::vector<float> x(cols, 0.5f), y(rows);
  ThreadPool pool(threads);
  size_t c = 0;
  for (auto _ : state) {
    matvec(type, w.data() + c * mat_bytes, rows, cols, x.data(), y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
    c = (c + 1) % copies;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mat_bytes));
  state.SetLabel(simd_target_name());
}

void MatvecArgs(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    b->Args({2048, 2048, threads});
    b->Args({5632, 2048, threads});
  }
  b->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Matvec, F32, TensorType::kF32, false)->Apply(MatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, F16, TensorType::kF16, false)->Apply(MatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, Q8_0, TensorType::kQ8_0, false)->Apply(MatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, F32_cold, TensorType::kF32, true)->Apply(MatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, F16_cold, TensorType::kF16, true)->Apply(MatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, Q8_0_cold, TensorType::kQ8_0, true)->Apply(MatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, BF16_cold, TensorType::kBF16, true)->Args({5632, 2048, 2})->UseRealTime();
BENCHMARK_CAPTURE(BM_Matvec, Q4_0_cold, TensorType::kQ4_0, true)->Args({5632, 2048, 2})->UseRealTime();
BENCHMARK_CAPTURE(BM_Matvec, Q4_K_cold, TensorType::kQ4_K, true)->Args({5632, 2048, 2})->UseRealTime();
// The types served by the unpacking integer dot (kernels_q8dot_unpacked-inl.h).
void ColdMatvecArgs(benchmark::internal::Benchmark* b) { b->Args({5632, 2048, 1})->Args({5632, 2048, 2})->UseRealTime(); }
BENCHMARK_CAPTURE(BM_Matvec, Q4_1_cold, TensorType::kQ4_1, true)->Apply(ColdMatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, Q5_0_cold, TensorType::kQ5_0, true)->Apply(ColdMatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, Q5_1_cold, TensorType::kQ5_1, true)->Apply(ColdMatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, IQ4_NL_cold, TensorType::kIQ4_NL, true)->Apply(ColdMatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, Q2_K_cold, TensorType::kQ2_K, true)->Apply(ColdMatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, Q3_K_cold, TensorType::kQ3_K, true)->Apply(ColdMatvecArgs);
BENCHMARK_CAPTURE(BM_Matvec, Q5_K_cold, TensorType::kQ5_K, true)->Apply(ColdMatvecArgs);

// Bytes copied per second (each byte is read once and written once).
void BM_Memcpy256MiB(benchmark::State& state) {
  const size_t n = 256u << 20;
  std::vector<uint8_t> src(n, 1), dst(n, 2);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Memcpy256MiB)->UseRealTime();

// Pure read bandwidth (what matvec needs), split over `threads`.
void BM_Read256MiB(benchmark::State& state) {
  const size_t n = (256u << 20) / sizeof(float);
  std::vector<float> a(n, 1.0f);
  const int threads = static_cast<int>(state.range(0));
  ThreadPool pool(threads);
  std::vector<float> partial(static_cast<size_t>(threads) * 16);
  for (auto _ : state) {
    pool.parallel_for(
        n, [&](size_t b, size_t e) { partial[b / ((n + threads - 1) / threads) * 16] = dot_f32(a.data() + b, a.data() + b, e - b); },
        4096);
    benchmark::DoNotOptimize(partial.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * sizeof(float)));
}
BENCHMARK(BM_Read256MiB)->Arg(1)->Arg(2)->UseRealTime();

void BM_Dot(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<float> a(n, 0.5f), b(n, 0.25f);
  for (auto _ : state) benchmark::DoNotOptimize(dot_f32(a.data(), b.data(), n));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Dot)->Arg(64)->Arg(128)->Arg(2048);

void BM_Softmax(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<float> x(n);
  for (auto _ : state) {
    for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 13) * 0.1f;
    softmax_f32(x.data(), n);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Softmax)->Arg(256)->Arg(2048);

void BM_Rmsnorm(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<float> x(n, 0.3f), w(n, 1.1f), out(n);
  for (auto _ : state) {
    rmsnorm_f32(out.data(), x.data(), w.data(), n, 1e-5f);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Rmsnorm)->Arg(2048);

// Prompt-sized matmul: shows where sgemm overtakes per-row reuse.
void BM_Matmul(benchmark::State& state, TensorType type) {
  const size_t rows = 2048, cols = 2048;
  const size_t n_tokens = static_cast<size_t>(state.range(0));
  const auto w = make_weights(type, rows, cols, 1);
  std::vector<float> x(cols * n_tokens, 0.5f), y(rows * n_tokens);
  ThreadPool pool(2);
  for (auto _ : state) {
    matmul(type, w.data(), rows, cols, x.data(), n_tokens, y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n_tokens));
}
BENCHMARK_CAPTURE(BM_Matmul, F32, TensorType::kF32)->Arg(4)->Arg(7)->Arg(8)->Arg(16)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, F16, TensorType::kF16)->Arg(4)->Arg(7)->Arg(8)->Arg(16)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, Q8_0, TensorType::kQ8_0)->Arg(4)->Arg(7)->Arg(8)->Arg(16)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, Q4_0, TensorType::kQ4_0)->Arg(4)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, Q4_K, TensorType::kQ4_K)->Arg(4)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, Q6_K, TensorType::kQ6_K)->Arg(4)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();

// Prefill GEMM (kernels_gemm_simd.cc) at a 128-token batch on one thread and
// two: GFLOPS against the core's fp32 FMA peak tells how close the tile runs.
void BM_Prefill128(benchmark::State& state, TensorType type) {
  const size_t rows = 2048, cols = 2048, n_tokens = 128;
  const auto w = make_weights(type, rows, cols, 1);
  std::vector<float> x(cols * n_tokens, 0.5f), y(rows * n_tokens);
  ThreadPool pool(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    matmul(type, w.data(), rows, cols, x.data(), n_tokens, y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(static_cast<double>(state.iterations()) * 2.0 * rows * cols * n_tokens / 1e9,
                                                benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Prefill128, F16, TensorType::kF16)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill128, Q8_0, TensorType::kQ8_0)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill128, Q4_0, TensorType::kQ4_0)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill128, Q4_K, TensorType::kQ4_K)->Arg(1)->Arg(2)->UseRealTime();

// The integer path alone (quantize the tokens, then row-tiled int8 dots),
// whatever matmul picks: against BM_Matmul it shows where sgemm would pay.
void BM_MatmulQ8(benchmark::State& state, TensorType type) {
  const size_t rows = 2048, cols = 2048;
  const size_t n_tokens = static_cast<size_t>(state.range(0));
  const auto w = make_weights(type, rows, cols, 1);
  std::vector<float> x(cols * n_tokens), y(rows * n_tokens);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  ThreadPool pool(2);
  QuantizedActivations q;
  for (auto _ : state) {
    quantize_activations(activation_type_for(type), x.data(), cols, n_tokens, &q);
    matmul_q8(type, w.data(), rows, cols, q, y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n_tokens));
}
BENCHMARK_CAPTURE(BM_MatmulQ8, Q8_0, TensorType::kQ8_0)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatmulQ8, Q4_0, TensorType::kQ4_0)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatmulQ8, Q4_K, TensorType::kQ4_K)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatmulQ8, Q6_K, TensorType::kQ6_K)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();

}  // namespace
// Q4_0 packed eight rows at a time (packed_q4_0.h), as the model runs it on
// AVX2 and up: decode from memory (5632 x 2048, copies past the caches) and a
// 128-token prefill, against BM_Matvec/Q4_0_cold and BM_Prefill128/Q4_0.
void BM_PackedQ4_0(benchmark::State& state, bool prefill) {
  const size_t rows = prefill ? 2048 : 5632, cols = 2048, n_tokens = prefill ? 128 : 1;
  const size_t mat_bytes = rows * row_bytes(TensorType::kQ4_0, cols);
  const size_t copies = prefill ? 1 : (kColdBytes + mat_bytes - 1) / mat_bytes;
  const auto w = make_weights(TensorType::kQ4_0, rows, cols, copies);
  std::vector<uint8_t> packed(w.size());
  for (size_t c = 0; c < copies; ++c) pack_q4_0x8(w.data() + c * mat_bytes, rows, cols, packed.data() + c * mat_bytes);
  std::vector<float> x(cols * n_tokens, 0.5f), y(rows * n_tokens);
  ThreadPool pool(static_cast<int>(state.range(0)));
  size_t c = 0;
  for (auto _ : state) {
    matmul_q4_0x8(packed.data() + c * mat_bytes, rows, cols, x.data(), n_tokens, y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
    c = (c + 1) % copies;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mat_bytes));
  state.counters["GFLOPS"] = benchmark::Counter(static_cast<double>(state.iterations()) * 2.0 * rows * cols * n_tokens / 1e9,
                                                benchmark::Counter::kIsRate);
  state.SetLabel(simd_target_name());
}
BENCHMARK_CAPTURE(BM_PackedQ4_0, decode_cold, false)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_PackedQ4_0, prefill128, true)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace kvforge::core

BENCHMARK_MAIN();

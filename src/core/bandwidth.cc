#include "kvforge/core/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "kvforge/core/kernels.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::core {

Bandwidth measure_bandwidth(size_t bytes, int reps, int n_threads) {
  const size_t n = bytes / sizeof(float);
  std::vector<float> a(n, 1.0f), b(n, 0.0f);
  std::vector<float> ones(4096, 1.0f);
  ThreadPool pool(n_threads);
  Bandwidth bw;
  using clock = std::chrono::steady_clock;
  for (int r = 0; r < std::max(1, reps); ++r) {
    auto t0 = clock::now();
    // The copy runs split over the threads, as the decode step's matvecs are.
    pool.parallel_for(n, [&](size_t s, size_t e) { std::memcpy(b.data() + s, a.data() + s, (e - s) * sizeof(float)); },
                      1024);
    double secs = std::chrono::duration<double>(clock::now() - t0).count();
    bw.copy_gbps = std::max(bw.copy_gbps, static_cast<double>(n * sizeof(float)) / secs / 1e9);

    std::vector<float> partial(static_cast<size_t>(pool.size()) * 16, 0.0f);
    t0 = clock::now();
    pool.parallel_for(n, [&](size_t s, size_t e) {
      float acc = 0;
      for (size_t i = s; i < e; i += ones.size()) acc += dot_f32(a.data() + i, ones.data(), std::min(ones.size(), e - i));
      partial[(s * pool.size() / n) * 16] += acc;
    }, 4096);
    secs = std::chrono::duration<double>(clock::now() - t0).count();
    bw.read_gbps = std::max(bw.read_gbps, static_cast<double>(n * sizeof(float)) / secs / 1e9);
    if (partial[0] < 0) bw.read_gbps = 0;  // keeps the sum observable
  }
  return bw;
}

}  // namespace kvforge::core

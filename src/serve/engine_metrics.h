// The engine's counters and their Prometheus text (kvf_serve_*). Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace kvforge::serve {

class EngineMetrics {
 public:
  static constexpr std::array<double, 14> kTtftBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                          1.0,   2.5,  5.0,   10.0, 30.0, 60.0, 120.0};
  void record_ttft(double seconds);
  void add_store_tokens(const std::string& level, uint64_t n);
  std::string text(size_t queue_depth, size_t active_slots, size_t slots) const;

  std::atomic<uint64_t> requests{0}, refused_queue_full{0}, cancelled{0}, failed{0};
  std::atomic<uint64_t> prompt_tokens{0}, generated_tokens{0};
  std::atomic<uint64_t> memory_tokens{0}, recomputed_tokens{0};
  std::atomic<uint64_t> store_errors{0}, store_puts{0}, store_put_errors{0}, store_bytes_fetched{0};
  std::atomic<uint64_t> decode_steps{0}, decode_batch_tokens{0};

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kTtftBuckets.size() + 1> ttft_counts_{};
  double ttft_sum_ = 0;
  uint64_t ttft_count_ = 0;
  std::map<std::string, uint64_t> store_tokens_;  // by level
};

}  // namespace kvforge::serve

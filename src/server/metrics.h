// The server's counters and their Prometheus text form (docs/SERVER.md).
// Thread-safe.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace kvforge::server {

// What the connection gate counts (server/connection_gate.h).
struct ConnectionCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> head_timeouts{0};  // closed: the request head did not arrive in time
  std::atomic<uint64_t> body_timeouts{0};  // closed: the body did not arrive in time
  std::atomic<uint64_t> bad_heads{0};      // answered 400/431 by the gate
};

class Metrics {
 public:
  // Upper bounds (seconds) of the latency histogram's buckets; +Inf is implied.
  static constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1.0,   2.5,  5.0,  10.0};

  void record_request(const std::string& route, int status, double seconds);
  void add_bytes_sent(uint64_t n) { bytes_sent_ += n; }
  void add_bytes_received(uint64_t n) { bytes_received_ += n; }
  void chunk_hit() { ++hits_; }
  void chunk_miss() { ++misses_; }
  void chunk_corrupted() { ++corrupted_; }
  void chunk_stored() { ++stored_; }

  ConnectionCounters& connections() { return connections_; }

  std::string text() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (route, status) -> count
  std::array<uint64_t, kBuckets.size() + 1> bucket_counts_{};  // last: +Inf
  double latency_sum_ = 0;
  uint64_t latency_count_ = 0;
  ConnectionCounters connections_;
  std::atomic<uint64_t> bytes_sent_{0}, bytes_received_{0}, hits_{0}, misses_{0}, corrupted_{0}, stored_{0};
};

}  // namespace kvforge::server

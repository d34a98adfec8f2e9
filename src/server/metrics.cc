#include "server/metrics.h"

#include <cstdio>

namespace kvforge::server {

void Metrics::record_request(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  if (seconds < 0) return;  // not timed (refused before routing)
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  ++bucket_counts_[b];
  latency_sum_ += seconds;
  ++latency_count_;
}

namespace {
void counter(std::string* out, const char* name, const char* help, uint64_t value) {
  *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
          std::to_string(value) + "\n";
}
std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
}  // namespace

std::string Metrics::text() const {
  std::string out;
  {
    std::lock_guard lock(mu_);
    out += "# HELP kvf_requests_total HTTP requests answered, by route and status.\n";
    out += "# TYPE kvf_requests_total counter\n";
    for (const auto& [k, v] : requests_)
      out += "kvf_requests_total{route=\"" + k.first + "\",status=\"" + std::to_string(k.second) + "\"} " +
             std::to_string(v) + "\n";
    out += "# HELP kvf_request_duration_seconds Time from routing a request to its last byte written.\n";
    out += "# TYPE kvf_request_duration_seconds histogram\n";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += bucket_counts_[b];
      const std::string le = b < kBuckets.size() ? number(kBuckets[b]) : "+Inf";
      out += "kvf_request_duration_seconds_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "kvf_request_duration_seconds_sum " + number(latency_sum_) + "\n";
    out += "kvf_request_duration_seconds_count " + std::to_string(latency_count_) + "\n";
  }
  counter(&out, "kvf_bytes_sent_total", "Response body bytes written.", bytes_sent_);
  counter(&out, "kvf_bytes_received_total", "Request body bytes read.", bytes_received_);
  counter(&out, "kvf_chunk_hits_total", "Chunk reads served from the store.", hits_);
  counter(&out, "kvf_chunk_misses_total", "Chunk reads of chunks not stored.", misses_);
  counter(&out, "kvf_chunk_corrupted_total", "Stored chunks that failed verification (then removed).", corrupted_);
  counter(&out, "kvf_chunk_puts_total", "Chunks stored by PUT.", stored_);
  counter(&out, "kvf_connections_total", "Connections accepted.", connections_.accepted);
  out += "# HELP kvf_connections_open Connections open now (reading a head, queued or served).\n"
         "# TYPE kvf_connections_open gauge\nkvf_connections_open " +
         std::to_string(connections_.open.load()) + "\n";
  counter(&out, "kvf_connection_head_timeouts_total", "Connections closed: request head not complete in time.",
          connections_.head_timeouts);
  counter(&out, "kvf_connection_body_timeouts_total", "Connections closed: request body not complete in time.",
          connections_.body_timeouts);
  counter(&out, "kvf_bad_request_heads_total", "Request heads refused by the gate (400, 431).",
          connections_.bad_heads);
  return out;
}

}  // namespace kvforge::server

#include "serve/engine_metrics.h"

#include <sstream>

namespace kvforge::serve {

void EngineMetrics::record_ttft(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t b = 0;
  while (b < kTtftBuckets.size() && seconds > kTtftBuckets[b]) ++b;
  ++ttft_counts_[b];
  ttft_sum_ += seconds;
  ++ttft_count_;
}

void EngineMetrics::add_store_tokens(const std::string& level, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  store_tokens_[level] += n;
}

namespace {

void counter(std::ostringstream& out, const char* name, const char* help, uint64_t value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n" << name << " " << value << "\n";
}

void gauge(std::ostringstream& out, const char* name, const char* help, uint64_t value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << " " << value << "\n";
}

}  // namespace

std::string EngineMetrics::text(size_t queue_depth, size_t active_slots, size_t slots) const {
  std::ostringstream out;
  counter(out, "kvf_serve_requests_total", "Generation requests accepted", requests);
  counter(out, "kvf_serve_requests_refused_total", "Requests refused: the queue was full (503)", refused_queue_full);
  counter(out, "kvf_serve_requests_cancelled_total", "Requests whose client went away", cancelled);
  counter(out, "kvf_serve_requests_failed_total", "Requests that ended in an error", failed);
  counter(out, "kvf_serve_prompt_tokens_total", "Prompt tokens of finished prefills", prompt_tokens);
  counter(out, "kvf_serve_generated_tokens_total", "Tokens generated", generated_tokens);
  counter(out, "kvf_serve_reused_memory_tokens_total", "Prompt tokens reused from a slot or the RAM prefix cache",
          memory_tokens);
  counter(out, "kvf_serve_recomputed_tokens_total", "Prompt tokens computed by prefill", recomputed_tokens);
  counter(out, "kvf_serve_store_errors_total", "Store lookups or loads that failed (recomputed)", store_errors);
  counter(out, "kvf_serve_store_puts_total", "Chunks put to the store", store_puts);
  counter(out, "kvf_serve_store_put_errors_total", "Chunk puts that failed", store_put_errors);
  counter(out, "kvf_serve_store_bytes_fetched_total", "Bytes fetched from the store", store_bytes_fetched);
  counter(out, "kvf_serve_decode_steps_total", "Batched decode passes", decode_steps);
  counter(out, "kvf_serve_decode_batch_tokens_total", "Tokens decoded by batched passes", decode_batch_tokens);
  gauge(out, "kvf_serve_queue_depth", "Requests waiting for a slot", queue_depth);
  gauge(out, "kvf_serve_active_slots", "Slots serving a request", active_slots);
  gauge(out, "kvf_serve_slots", "Slots (--parallel)", slots);
  std::lock_guard<std::mutex> lock(mu_);
  out << "# HELP kvf_serve_reused_store_tokens_total Prompt tokens loaded from the store, by level\n"
      << "# TYPE kvf_serve_reused_store_tokens_total counter\n";
  for (const auto& [level, n] : store_tokens_) {
    out << "kvf_serve_reused_store_tokens_total{level=\"" << level << "\"} " << n << "\n";
  }
  out << "# HELP kvf_serve_ttft_seconds Time from a request's arrival to its first token\n"
      << "# TYPE kvf_serve_ttft_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t b = 0; b < kTtftBuckets.size(); ++b) {
    cumulative += ttft_counts_[b];
    out << "kvf_serve_ttft_seconds_bucket{le=\"" << kTtftBuckets[b] << "\"} " << cumulative << "\n";
  }
  out << "kvf_serve_ttft_seconds_bucket{le=\"+Inf\"} " << cumulative + ttft_counts_.back() << "\n"
      << "kvf_serve_ttft_seconds_sum " << ttft_sum_ << "\nkvf_serve_ttft_seconds_count " << ttft_count_ << "\n";
  return out.str();
}

}  // namespace kvforge::serve

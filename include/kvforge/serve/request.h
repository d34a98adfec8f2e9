// A generation request to the serving engine (serve/engine.h) and the stream
// its answer comes back through. The HTTP layer (serve/api_server.h) fills a
// Request from OpenAI's JSON; the engine's scheduler thread feeds the stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::serve {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  float top_p = 1.0f;        // 1: off
  int top_k = 0;             // 0: off
  std::optional<uint64_t> seed = {};  // unset: a fresh seed per request
};

// The KV techniques a request may choose (server defaults fill what it leaves
// empty). Names are those of the CLI's registries.
struct KvOptions {
  std::string policy;  // eviction policy (evict registry), with `budget`
  std::string budget;  // "0.5", "50%" or a slot count
  std::string pq;      // retrieval attention: RATIO[:m=..] (pq::parse_retrieval_spec)
  std::vector<std::string> store_levels;  // codec specs new chunks are stored at
};

struct Request {
  std::vector<int32_t> prompt;  // BOS first when the vocabulary adds one
  int max_tokens = 16;
  SamplingParams sampling;
  std::vector<std::string> stop;  // up to 4 strings; the text ends before the first found
  KvOptions kv;
};

struct Usage {
  size_t prompt_tokens = 0;
  size_t completion_tokens = 0;
  size_t cached_tokens = 0;  // memory_tokens + store_tokens
  size_t memory_tokens = 0;  // prompt tokens reused from a slot or the RAM prefix cache
  size_t store_tokens = 0;   // prompt tokens loaded from the store
};

// "stop" (end of generation token or stop string), "length" (max_tokens or the
// context), "cancelled" (the client went away), "error".
struct Outcome {
  std::string finish_reason = {};
  Usage usage = {};
  Status status = {};  // not OK when finish_reason is "error"
  double ttft_ms = 0;
};

// The engine's answer to one request: text as it is generated, then the
// outcome. Thread-safe: the engine writes, one reader reads.
class RequestStream {
 public:
  // Text produced since the last call (appended to *text); false once the
  // stream has ended and everything was read. Waits at most `wait` for news.
  bool next(std::string* text, std::chrono::milliseconds wait);
  // Asks the engine to stop: the slot is freed at its next step.
  void cancel();
  bool cancelled() const;
  // Blocks until the end; the whole text.
  std::string wait_all();
  Outcome outcome() const;  // meaningful once next() returned false

  // Engine side.
  void push(const std::string& text);
  void finish(Outcome outcome);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  bool done_ = false;
  bool cancelled_ = false;
  Outcome outcome_;
};

}  // namespace kvforge::serve

// The serving engine behind `kvforge serve --model`: --parallel slots, each a
// model::Session, run by one scheduler thread with continuous batching.
//
// Each step the scheduler (1) admits queued requests into free slots, reusing
// KV: the longest common token prefix held by a slot or the RAM prefix cache
// (tier 1), else the longest stored chunk prefix, loaded by the adaptive
// loader under the TTFT deadline (tier 2); (2) runs one prefill chunk of at
// most `prefill_chunk` tokens, so running streams keep flowing during a long
// prompt; (3) decodes one token for every decoding slot in one batched pass
// over the weights (model::BatchDecoder). After a prompt's prefill its new
// complete chunks are encoded and put to the store by a background thread
// (tier 3), never delaying the answer. A store that fails is counted and the
// prompt is recomputed: the request still succeeds.
//
// Thread-safety: submit() and the accessors may be called from any thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/model/llama.h"
#include "kvforge/serve/request.h"

namespace kvforge::serve {

class KvStoreTier;

struct EngineOptions {
  std::shared_ptr<const model::LlamaModel> model;
  int parallel = 1;        // slots
  int ctx = 0;             // positions per slot; 0: min(the model's context, 4096)
  int n_threads = 1;       // per forward pass
  size_t queue_limit = 64;  // requests waiting for a slot; more are refused (503)
  int prefill_chunk = 256;  // prompt tokens per scheduler step
  size_t cache_ram_bytes = size_t{256} << 20;  // RAM prefix cache (0: slots only)
  // Tier 2/3; null: no store. Levels new chunks are stored at come from
  // KvOptions::store_levels (the server default fills it).
  std::shared_ptr<KvStoreTier> store;
  double ttft_deadline_ms = 1000;  // the loader's deadline for a stored prefix
  KvOptions defaults;              // for fields a request leaves empty
};

struct EngineStats {
  size_t queued = 0;
  size_t active = 0;
  size_t slots = 0;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> start(EngineOptions options);
  ~Engine();  // stop()
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues `request`. InvalidArgument for an empty prompt, a prompt that
  // leaves no room in the context (naming the limit), or a bad KV option;
  // ResourceExhausted when the queue is full.
  Result<std::shared_ptr<RequestStream>> submit(Request request);

  EngineStats stats() const;
  // Prometheus text of the engine's counters (kvf_serve_*).
  std::string metrics_text() const;
  const model::LlamaModel& model() const;
  int ctx() const;
  // Waits until every queued store put has been written (tests, shutdown).
  void flush_store_puts();
  // Finishes requests in flight with "cancelled", joins the scheduler.
  void stop();

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvforge::serve

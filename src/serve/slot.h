// One of the engine's --parallel slots: a session whose cache persists between
// requests (so a follow-up sharing the prompt prefix reuses it), and the
// request it serves now.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kvforge/eval/eviction_controller.h"
#include "kvforge/model/llama.h"
#include "kvforge/model/sampler.h"
#include "kvforge/pq/retrieval.h"
#include "kvforge/serve/request.h"
#include "serve/text_emitter.h"

namespace kvforge::serve {

using SteadyClock = std::chrono::steady_clock;

struct Queued {
  Request request;
  std::shared_ptr<RequestStream> stream;
  SteadyClock::time_point submitted;
};

struct Slot {
  enum class Phase { kFree, kPrefill, kDecode };

  int id = 0;
  std::unique_ptr<model::Session> session;
  // The tokens whose KV the cache holds, in order, while `dense` (no token of
  // them was evicted); what a later prompt's common prefix is measured on.
  std::vector<int32_t> tokens;
  bool dense = true;

  Phase phase = Phase::kFree;
  Queued job;
  size_t prefilled = 0;      // prompt tokens in the cache
  size_t stored_chunks = 0;  // leading prompt chunks the store already holds
  int32_t next_token = -1;   // sampled, to be fed by the next decode step
  int generated = 0;
  std::optional<model::Sampler> sampler;
  std::optional<TextEmitter> emitter;
  std::unique_ptr<eval::EvictionController> evictor;
  std::unique_ptr<pq::RetrievalSelector> retrieval;
  Usage usage;
  double ttft_ms = 0;
  std::vector<float> logits;

  bool busy() const { return phase != Phase::kFree; }
  // Decodes through its own session rather than the batched pass (eviction
  // runs after each of its steps).
  bool decodes_alone() const { return evictor != nullptr; }
};

}  // namespace kvforge::serve

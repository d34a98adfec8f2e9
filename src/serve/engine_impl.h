// Internal to the engine: its state and the steps its files share.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "kvforge/core/background_worker.h"
#include "kvforge/serve/engine.h"
#include "kvforge/serve/kv_store_tier.h"
#include "kvforge/stream/loader.h"
#include "serve/engine_metrics.h"
#include "serve/prefix_cache.h"
#include "serve/slot.h"

namespace kvforge::serve {

// InvalidArgument naming the field for a KV option that cannot be built.
Status check_kv_options(const KvOptions& requested, const KvOptions& defaults);

struct Engine::Impl {
  EngineOptions options;
  int ctx = 0;
  std::vector<Slot> slots;
  PrefixCache prefix_cache{0};
  EngineMetrics metrics;
  // One decode step of several sessions; until model::BatchDecoder, one by one.
  Status decode_together(std::span<model::Session* const> sessions, std::span<const int32_t> tokens,
                         std::vector<float>* logits);

  std::mutex mu;  // guards queue and stopping
  std::condition_variable cv;
  std::deque<Queued> queue;
  bool stopping = false;
  std::thread scheduler;

  // Tier 2/3 (scheduler thread only, but for the put worker).
  std::optional<stream::Calibration> calibration;
  std::mutex puts_mu;
  std::condition_variable puts_cv;
  size_t puts_pending = 0;
  std::unique_ptr<core::BackgroundWorker> put_worker;

  ~Impl();
  // The scheduler (engine.cc).
  void run();
  bool step();
  void admit();
  size_t busy_slots() const;

  // A request into a slot, reusing KV (admission.cc).
  Status start_request(Slot& s, Queued job);
  Status prepare_kv_options(Slot& s);
  size_t reuse_memory(Slot& s, std::span<const int32_t> prompt);
  size_t reuse_store(Slot& s, std::span<const int32_t> prompt, size_t have);
  void save_slot_prefix(Slot& s);

  // Prefill, decode and the end of a request (steps.cc).
  void prefill_step();
  void prompt_done(Slot& s);
  void decode_step();
  void take_token(Slot& s, int32_t token);
  void finish(Slot& s, const std::string& reason, Status status = Status::OK());
  void queue_store_puts(Slot& s);
};

}  // namespace kvforge::serve

// Runs a Session under a KV budget: installs the policy as the attention
// observer, prefills in chunks and evicts after each chunk (prefill-time
// eviction), and evicts after decode steps (every step, or every `stride`).
// Each kv head keeps its own tokens. Keys keep their original RoPE positions.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kvforge/evict/budget.h"
#include "kvforge/evict/policy.h"
#include "kvforge/model/llama.h"

namespace kvforge::eval {

struct ControllerOptions {
  // Tokens per prefill chunk; eviction runs after each chunk once the cache
  // exceeds the budget. 0: the policy's natural stride (RoCo/EasyKV's).
  int prefill_chunk = 0;
  // Evict every this many decode steps (1 = every step).
  int decode_stride = 1;
};

class EvictionController {
 public:
  // Attaches `policy` to `session` (as its observer when the policy needs
  // attention rows). The session must outlive the controller; the controller
  // detaches itself when destroyed.
  static Result<std::unique_ptr<EvictionController>> create(model::Session* session, std::unique_ptr<evict::Policy> policy,
                                                            ControllerOptions options);
  ~EvictionController();

  // Resolves the budget for a sequence of `reference_tokens` and checks it
  // against what the policy protects in either phase (InvalidArgument naming
  // both numbers). Until a budget is set nothing is evicted; with `full`
  // nothing is ever evicted (the budget is only recorded).
  Status set_budget(const evict::Budget& budget, size_t reference_tokens);
  size_t budget_slots() const { return budget_slots_; }
  bool has_budget() const { return budget_set_; }
  // The prefill chunk in use: options.prefill_chunk, else the policy's stride,
  // else max(1, budget / 8). The first chunk of a prefill is enlarged to fill
  // the cache up to the budget (no eviction can happen before that).
  size_t prefill_chunk() const;

  // Prefill with eviction: tokens go through in chunks; after each chunk every
  // kv head is brought down to the budget. Logits as Session::forward (kAll:
  // one row per token, the chunks' rows concatenated). If a forward fails
  // midway, the chunks before it stay in the cache.
  Status prefill(std::span<const int32_t> tokens, model::LogitsMode mode, std::vector<float>* logits);
  // One decode step; afterwards heads over budget are evicted (per the stride).
  Status decode(int32_t token, std::vector<float>* logits);
  // Brings every kv head down to the budget now.
  Status evict_to_budget(evict::Phase phase);

  // Time spent in policy code (observer + victim selection + on_evicted),
  // steady_clock, for overhead benches. Cumulative (reset() keeps it).
  double policy_seconds() const;
  size_t evicted_total() const { return evicted_total_; }
  evict::Policy& policy() { return *policy_; }
  model::Session& session() { return *session_; }
  // A new sequence: clears the session's cache and the policy's statistics.
  // The budget stays; policy_seconds() and evicted_total() keep accumulating.
  void reset();

 private:
  EvictionController(model::Session* session, std::unique_ptr<evict::Policy> policy, ControllerOptions options);

  model::Session* session_;
  std::unique_ptr<evict::Policy> policy_;
  ControllerOptions options_;
  size_t budget_slots_ = 0;
  bool budget_set_ = false;
  int steps_since_evict_ = 0;
  double policy_seconds_ = 0;
  size_t evicted_total_ = 0;
  std::unique_ptr<kv::AttentionObserver> timing_observer_;
  std::vector<int32_t> victims_;
  std::vector<float> chunk_logits_;
};

}  // namespace kvforge::eval

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

namespace kvforge::evict {

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
  static Result<std::unique_ptr<EvictionController>> create(model::Session* session, std::unique_ptr<Policy> policy,
                                                            ControllerOptions options);
  ~EvictionController();

  // Resolves the budget for a sequence of `reference_tokens` and checks it
  // against what the policy protects (InvalidArgument naming both numbers).
  Status set_budget(const Budget& budget, size_t reference_tokens);
  size_t budget_slots() const { return budget_slots_; }

  // Prefill with eviction: tokens go through in chunks; after each chunk every
  // kv head is brought down to the budget. Logits as Session::forward.
  Status prefill(std::span<const int32_t> tokens, model::LogitsMode mode, std::vector<float>* logits);
  // One decode step; afterwards heads over budget are evicted (per the stride).
  Status decode(int32_t token, std::vector<float>* logits);
  // Brings every kv head down to the budget now.
  Status evict_to_budget(Phase phase);

  // Time spent in policy code (observer + victim selection), for overhead benches.
  double policy_seconds() const { return policy_seconds_; }
  size_t evicted_total() const { return evicted_total_; }
  Policy& policy() { return *policy_; }
  void reset();

 private:
  EvictionController(model::Session* session, std::unique_ptr<Policy> policy, ControllerOptions options);

  model::Session* session_;
  std::unique_ptr<Policy> policy_;
  ControllerOptions options_;
  size_t budget_slots_ = 0;
  bool budget_set_ = false;
  int steps_since_evict_ = 0;
  double policy_seconds_ = 0;
  size_t evicted_total_ = 0;
  std::unique_ptr<kv::AttentionObserver> timing_observer_;
};

}  // namespace kvforge::evict

// Eviction policies: keep a KV cache within a budget by choosing, per layer and
// kv head, which token slots to drop. A policy observes the attention rows the
// forward pass produces (it is a kv::AttentionObserver) and, when asked, names
// victims. Policies are built by name through the registry (registry.h); the
// EvictionController (controller.h) decides when to ask.
//
// Attention rows arrive one query head at a time; the query heads of one GQA
// group (q_head / group_size == kv_head) arrive consecutively for the same query
// token. Policies that score per kv head average the group's rows first (as
// EasyKV does). Calls for different kv heads may come from different threads at
// the same time, calls for one kv head are serial and in query order: keep state
// per (layer, kv head).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/kv/attention.h"
#include "kvforge/kv/kv_cache.h"

namespace kvforge::evict {

enum class Phase { kPrefill, kDecode };
const char* phase_name(Phase phase);

// Model shape a policy is attached to.
struct PolicyShape {
  int n_layers = 0;
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;
};

class Policy : public kv::AttentionObserver {
 public:
  ~Policy() override = default;

  // Sizes per-head state; called once before use, and again after reset().
  virtual Status attach(const PolicyShape& shape) = 0;
  // Forgets every statistic (a new sequence starts).
  virtual void reset() = 0;

  // Chooses slots of `head` to remove so that at most `keep` remain. Writes
  // nothing when head.size() <= keep. InvalidArgument when `keep` is below what
  // the policy must protect (sinks + recent window). Victims must be live slots.
  virtual Status select_victims(int layer, int kv_head, const kv::KvHead& head, size_t keep, Phase phase,
                                std::vector<int32_t>* victims) = 0;

  // Tells the policy these slots were removed (their statistics must go: the
  // slot ids will be reused by later tokens).
  virtual void on_evicted(int layer, int kv_head, std::span<const int32_t> slots) = 0;

  // Slots the policy never evicts when asked to keep `keep` (sinks + recent
  // window); the controller refuses budgets below this.
  virtual size_t min_keep(Phase phase, size_t keep) const = 0;

  virtual std::string name() const = 0;
  // False when the policy needs no attention rows (full, random, streaming):
  // the controller then leaves the observer unset so attention stays parallel.
  virtual bool needs_attention() const { return true; }
  // Tokens evicted per prefill chunk (EasyKV's `stride`): the controller's
  // default prefill chunk. 0 when the policy has no preference.
  virtual int stride() const { return 0; }
  // True for `full`: never evicts, the controller treats any budget as unbounded.
  virtual bool unbounded() const { return false; }
};

}  // namespace kvforge::evict

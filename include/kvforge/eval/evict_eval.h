// Eviction policies scored on real text against the full cache.
//
// Two settings, as RoCo/EasyKV evaluate them:
//  - prefill: the first `prefill_fraction` of each document is the context; it
//    is prefilled in chunks with eviction down to budget.slots(context length),
//    then the rest is teacher-forced (new tokens appended, no more eviction).
//    Scored: predictions made after the context was compressed.
//  - decode: the document is fed token by token; once the cache holds
//    budget.slots(document length) tokens, every step evicts back to it.
//    Scored: predictions made once eviction has begun.
// The reference is the full-cache run on the same tokens and positions.
// Documents too short for some config (its budget would fall below what the
// policy always protects: sinks + recent window) are left out of every config,
// so all rows score the same documents; rows report how many were used.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kvforge/eval/metrics.h"
#include "kvforge/eval/perplexity.h"
#include "kvforge/evict/budget.h"
#include "kvforge/eval/eviction_controller.h"

namespace kvforge::eval {

struct EvictEvalConfig {
  std::string policy;  // a registry description, e.g. "roco" or "snapkv:window=32"
  evict::Budget budget;
  evict::Phase phase;
};

struct EvictEvalOptions {
  double prefill_fraction = 0.5;
  eval::ControllerOptions controller;
  RunOptions run;  // workers, KV type, progress; score_from is ignored (the settings define it)
};

struct EvictEvalRow {
  EvictEvalConfig config;
  FidelityResult fidelity;
  // Mean over documents of the peak live K+V bytes (KvCache::bytes_live: in the
  // run's KV type, int32 positions not counted).
  double kv_bytes = 0;
  double kv_bytes_full = 0;  // the same for the full cache
  size_t documents = 0;      // documents scored (long enough for every config)
};

// One row per config, in the order given. Documents run in parallel; the
// reference run of each document is computed once and shared by all configs.
Result<std::vector<EvictEvalRow>> evaluate_eviction(std::shared_ptr<const model::LlamaModel> model,
                                                    const std::vector<std::vector<int32_t>>& documents,
                                                    const std::vector<EvictEvalConfig>& configs,
                                                    const EvictEvalOptions& options);

}  // namespace kvforge::eval

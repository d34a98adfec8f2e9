// Retrieval attention (PQCache) scored on real text against the full cache.
//
// Per document: the first `prefill_fraction` of the tokens is prefilled with
// full attention, the retrieval index is built over that cache, then the rest
// is teacher-forced token by token with the selector active; each of those
// predictions is scored against the full-cache run (KL, top-1 agreement,
// delta ppl). Every config sees the same documents and positions; the
// reference runs once per document for all configs.
//
// recall_at_k: for method pq, the mean over retrievals (decode steps, layers,
// kv heads) of |PQ's top-k ∩ exact top-k| / k; the oracle's is 1 by definition.
#pragma once

#include <memory>
#include <vector>

#include "kvforge/eval/metrics.h"
#include "kvforge/eval/perplexity.h"
#include "kvforge/pq/retrieval.h"

namespace kvforge::eval {

struct PqEvalOptions {
  double prefill_fraction = 0.5;
  RunOptions run;  // workers, KV type, progress; score_from is ignored
};

struct PqEvalRow {
  pq::RetrievalOptions config;
  FidelityResult fidelity;
  double recall_at_k = 0;
  int64_t retrievals = 0;  // select() calls that retrieved (not "attend all")
  pq::TierStats tier;      // block-cache fetches, when the config has a tier
  size_t documents = 0;
};

// One row per config, in the order given. InvalidArgument for a config that
// validate() refuses at the model's head_dim, or when no document has 3 tokens.
Result<std::vector<PqEvalRow>> evaluate_retrieval(std::shared_ptr<const model::LlamaModel> model,
                                                  const std::vector<std::vector<int32_t>>& documents,
                                                  const std::vector<pq::RetrievalOptions>& configs,
                                                  const PqEvalOptions& options);

}  // namespace kvforge::eval

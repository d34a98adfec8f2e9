// Teacher-forced evaluation over documents: every document runs in a fresh
// cache, BOS first, every next token scored (the first after BOS included).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "kvforge/eval/metrics.h"
#include "kvforge/model/llama.h"

namespace kvforge::eval {

// Called after each document with (documents done, total).
using ProgressFn = std::function<void(size_t done, size_t total)>;

struct PerplexityResult {
  double ppl = 0;
  double mean_nll = 0;
  int64_t tokens = 0;
  size_t documents = 0;
};

Result<PerplexityResult> perplexity(model::Session& session, const std::vector<std::vector<int32_t>>& documents,
                                    const ProgressFn& progress = {});

// How a run produces logits for one document: the session has been reset;
// fill `logits` with [tokens.size() - 1][vocab] rows, row p predicting tokens[p+1].
// A technique under test (eviction, retrieval, a decoded cache) installs itself here.
using DocumentRunner = std::function<Status(model::Session& session, std::span<const int32_t> tokens,
                                            std::vector<float>* logits)>;

// The plain full-cache run: one forward over the document with all logits.
Status run_full_cache(model::Session& session, std::span<const int32_t> tokens, std::vector<float>* logits);

// Scores `test` against `reference` on the same documents. Positions before
// `score_from` are not scored (e.g. a prefix that both runs share exactly).
Result<FidelityResult> compare_runs(model::Session& ref_session, const DocumentRunner& reference,
                                    model::Session& test_session, const DocumentRunner& test,
                                    const std::vector<std::vector<int32_t>>& documents, size_t score_from = 0,
                                    const ProgressFn& progress = {});

}  // namespace kvforge::eval

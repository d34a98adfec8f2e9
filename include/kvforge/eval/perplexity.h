// Teacher-forced evaluation over documents: every document runs in a fresh
// cache, BOS first, every next token scored (the first after BOS included).
//
// Documents are independent, so they run in parallel: `workers` sessions of
// one thread each (small models gain far more from this than from splitting
// each matrix product). Results do not depend on the worker count.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "kvforge/eval/metrics.h"
#include "kvforge/model/llama.h"

namespace kvforge::eval {

// Called after each document with (documents done, total), from one thread at a time.
using ProgressFn = std::function<void(size_t done, size_t total)>;

struct RunOptions {
  int workers = 1;          // parallel sessions
  int threads_per_worker = 1;
  int max_positions = 0;    // 0: the model's context length
  size_t score_from = 0;    // positions before this are not scored
  // The cache every session of the run stores keys and values in (reference and
  // technique under test alike, so a comparison measures only the technique).
  kv::KvType kv_type = kv::KvType::kF16;
  ProgressFn progress;

  model::SessionOptions session_options() const;
};

struct PerplexityResult {
  double ppl = 0;
  double mean_nll = 0;
  int64_t tokens = 0;
  size_t documents = 0;
};

// How a run produces logits for one document. The session is fresh (empty
// cache); fill `logits` with [tokens.size() - 1][vocab] rows, row p predicting
// tokens[p+1]. A technique under test (eviction, retrieval, a decoded cache)
// installs itself on the session here. Called concurrently from several
// workers on different sessions, so per-document state lives in the call.
using DocumentRunner = std::function<Status(model::Session& session, std::span<const int32_t> tokens,
                                            std::vector<float>* logits)>;

// The plain full-cache run: one forward over the document with all logits.
Status run_full_cache(model::Session& session, std::span<const int32_t> tokens, std::vector<float>* logits);

Result<PerplexityResult> perplexity(std::shared_ptr<const model::LlamaModel> model,
                                    const std::vector<std::vector<int32_t>>& documents, const RunOptions& options,
                                    const DocumentRunner& runner = run_full_cache);

// Scores `test` against `reference` on the same documents (the two runs may use
// different models with the same vocabulary).
Result<FidelityResult> compare_runs(std::shared_ptr<const model::LlamaModel> ref_model, const DocumentRunner& reference,
                                    std::shared_ptr<const model::LlamaModel> test_model, const DocumentRunner& test,
                                    const std::vector<std::vector<int32_t>>& documents, const RunOptions& options);

}  // namespace kvforge::eval

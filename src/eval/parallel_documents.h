// Internal to eval: documents are independent, so they are handed out to a few
// worker threads, each with its own sessions.
#pragma once

#include <cstddef>
#include <functional>

#include "kvforge/core/status.h"
#include <memory>
#include <vector>

#include "kvforge/eval/perplexity.h"

namespace kvforge::eval::detail {

// Calls work(worker, document) for every document on min(workers, n_docs)
// threads (worker in [0, workers)); stops at the first error and returns it
// with the document's index. progress(done, total) is called under a lock.
Status parallel_documents(size_t n_docs, int workers, const std::function<Status(int, size_t)>& work,
                          const ProgressFn& progress);

// Teacher-forced comparison against the full cache: for every document, in
// parallel on run.workers sessions of run.threads_per_worker threads, computes
// the reference logits (run_full_cache, [n - 1][vocab]) once in `ref`, then
// calls work(ref, test, document index, reference logits) with a second
// session `test` of the same worker for the technique under test.
using CompareFn = std::function<Status(model::Session& ref, model::Session& test, size_t doc,
                                       const std::vector<float>& ref_logits)>;
Status compare_with_reference(std::shared_ptr<const model::LlamaModel> model,
                              const std::vector<const std::vector<int32_t>*>& docs, const RunOptions& run,
                              const CompareFn& work);

}  // namespace kvforge::eval::detail

// Internal to eval: documents are independent, so they are handed out to a few
// worker threads, each with its own sessions.
#pragma once

#include <cstddef>
#include <functional>

#include "kvforge/core/status.h"
#include "kvforge/eval/perplexity.h"

namespace kvforge::eval::detail {

// Calls work(worker, document) for every document on min(workers, n_docs)
// threads (worker in [0, workers)); stops at the first error and returns it
// with the document's index. progress(done, total) is called under a lock.
Status parallel_documents(size_t n_docs, int workers, const std::function<Status(int, size_t)>& work,
                          const ProgressFn& progress);

}  // namespace kvforge::eval::detail

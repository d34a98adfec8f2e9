#include "eval/parallel_documents.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kvforge::eval::detail {

Status parallel_documents(size_t n_docs, int workers, const std::function<Status(int, size_t)>& work,
                          const ProgressFn& progress) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first_error;
  size_t done = 0;
  auto loop = [&](int w) {
    for (size_t d; !failed && (d = next++) < n_docs;) {
      Status s = work(w, d);
      std::lock_guard<std::mutex> lock(mu);
      if (!s.ok()) {
        if (!failed.exchange(true)) first_error = s.with_context("document " + std::to_string(d));
        return;
      }
      ++done;
      if (progress) progress(done, n_docs);
    }
  };
  const int n = std::max(1, std::min<int>(workers, static_cast<int>(n_docs)));
  std::vector<std::thread> threads;
  for (int w = 1; w < n; ++w) threads.emplace_back(loop, w);
  loop(0);
  for (auto& t : threads) t.join();
  return first_error;
}

Status compare_with_reference(std::shared_ptr<const model::LlamaModel> model,
                              const std::vector<const std::vector<int32_t>*>& docs, const RunOptions& run,
                              const CompareFn& work) {
  const int workers = std::max(1, std::min<int>(run.workers, static_cast<int>(docs.size())));
  const model::SessionOptions so = run.session_options();
  std::vector<std::unique_ptr<model::Session>> refs, tests;
  for (int w = 0; w < workers; ++w) {
    refs.push_back(std::make_unique<model::Session>(model, so));
    tests.push_back(std::make_unique<model::Session>(model, so));
  }
  std::vector<std::vector<float>> ref_logits(static_cast<size_t>(workers));
  return parallel_documents(
      docs.size(), workers,
      [&](int w, size_t d) {
        model::Session& ref = *refs[static_cast<size_t>(w)];
        ref.reset();
        KVF_RETURN_IF_ERROR(run_full_cache(ref, *docs[d], &ref_logits[static_cast<size_t>(w)]));
        return work(ref, *tests[static_cast<size_t>(w)], d, ref_logits[static_cast<size_t>(w)]);
      },
      run.progress);
}

}  // namespace kvforge::eval::detail

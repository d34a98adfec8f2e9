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

}  // namespace kvforge::eval::detail

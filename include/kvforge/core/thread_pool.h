// A fixed pool of worker threads for data-parallel loops in the forward pass.
// The calling thread takes part, so ThreadPool(1) runs everything inline.
// Built for many short jobs per token (a decode step issues ~10 per layer):
// workers spin briefly before sleeping so a job starts in microseconds.
// Thread-safety: parallel_for may be called from one thread at a time.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace kvforge::core {

class ThreadPool {
 public:
  // n_threads >= 1 counts the caller; values < 1 are treated as 1.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;

  // Splits [0, n) into size() contiguous ranges (each a multiple of `grain`
  // except the last) and calls fn(begin, end) for each non-empty one, on the
  // workers and the caller. Returns when all calls have returned.
  void parallel_for(size_t n, const std::function<void(size_t begin, size_t end)>& fn,
                    size_t grain = 1);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvforge::core

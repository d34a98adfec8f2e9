// Design: one job slot published by bumping `generation_`. Workers spin on it
// for a short time (decode issues jobs back to back, so the next one usually
// arrives within microseconds) and then sleep on a condition variable so an
// idle pool costs no CPU. Each participant owns one fixed range, so the only
// shared write per job is the completion counter.
#include "kvforge/core/thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kvforge::core {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Long enough to bridge the gap between the kernels of one layer, short enough
// that an idle pool goes to sleep before it steals noticeable CPU from others.
constexpr auto kSpinTime = std::chrono::microseconds(50);
constexpr int kPureSpins = 256;

// A parallel_for issued from inside a job runs inline instead of deadlocking.
thread_local bool t_inside_job = false;

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;

  // Job description, written by the caller before it bumps `generation`.
  const std::function<void(size_t, size_t)>* fn = nullptr;
  size_t n = 0;
  size_t chunk = 0;

  alignas(64) std::atomic<uint64_t> generation{0};
  alignas(64) std::atomic<int> remaining{0};
  alignas(64) std::atomic<int> sleepers{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable cv;

  void run_range(int index) const {
    const size_t begin = static_cast<size_t>(index) * chunk;
    if (begin >= n) return;
    const size_t end = begin + chunk < n ? begin + chunk : n;
    (*fn)(begin, end);
  }

  // Returns the new generation, or `seen` when stopping.
  uint64_t wait_for_job(uint64_t seen) {
    auto deadline = std::chrono::steady_clock::now() + kSpinTime;
    for (int iter = 0;; ++iter) {
      const uint64_t g = generation.load(std::memory_order_acquire);
      if (g != seen) return g;
      if (stop.load(std::memory_order_acquire)) return seen;
      // Pure spinning first for the lowest latency; then yield between checks
      // so that, when threads outnumber free cores, a worker that still has
      // work (or another process) gets the core.
      if (iter < kPureSpins) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
      if ((iter & 15) == 15 && std::chrono::steady_clock::now() > deadline) break;
    }
    std::unique_lock<std::mutex> lock(mu);
    // seq_cst pairs with the caller's store to `generation` then load of
    // `sleepers`: either it sees us sleeping and notifies, or we see its job.
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    cv.wait(lock, [&] {
      return generation.load(std::memory_order_seq_cst) != seen || stop.load(std::memory_order_seq_cst);
    });
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    return generation.load(std::memory_order_acquire);
  }

  void worker_main(int index) {
    t_inside_job = true;
    uint64_t seen = 0;
    for (;;) {
      const uint64_t g = wait_for_job(seen);
      if (g == seen) return;  // stop requested
      seen = g;
      run_range(index);
      remaining.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(std::make_unique<Impl>()) {
  impl_->n_threads = n_threads < 1 ? 1 : n_threads;
  impl_->workers.reserve(static_cast<size_t>(impl_->n_threads - 1));
  for (int i = 1; i < impl_->n_threads; ++i) {
    impl_->workers.emplace_back([impl = impl_.get(), i] { impl->worker_main(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop.store(true, std::memory_order_seq_cst);
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

int ThreadPool::size() const { return impl_->n_threads; }

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn, size_t grain) {
  if (n == 0) return;
  if (grain == 0) grain = 1;
  Impl& p = *impl_;
  const size_t n_grains = (n + grain - 1) / grain;
  if (p.n_threads == 1 || n_grains == 1 || t_inside_job) {
    fn(0, n);
    return;
  }
  const size_t per = (n_grains + static_cast<size_t>(p.n_threads) - 1) / static_cast<size_t>(p.n_threads);
  p.fn = &fn;
  p.n = n;
  p.chunk = per * grain;
  p.remaining.store(p.n_threads - 1, std::memory_order_relaxed);
  p.generation.fetch_add(1, std::memory_order_seq_cst);
  if (p.sleepers.load(std::memory_order_seq_cst) > 0) {
    // Taking the lock orders us after any worker between its predicate check
    // and its wait, so the notify cannot be lost.
    { std::lock_guard<std::mutex> lock(p.mu); }
    p.cv.notify_all();
  }

  t_inside_job = true;
  p.run_range(0);
  t_inside_job = false;

  // Workers normally finish within microseconds; yield if one was preempted
  // (the machine may be oversubscribed) instead of burning its core.
  for (int iter = 0; p.remaining.load(std::memory_order_acquire) != 0; ++iter) {
    if (iter < kPureSpins) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace kvforge::core

#include "kvforge/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace kvforge::core {
namespace {

TEST(ThreadPool, SizeClampsToOne) {
  EXPECT_EQ(ThreadPool(0).size(), 1);
  EXPECT_EQ(ThreadPool(-3).size(), 1);
  EXPECT_EQ(ThreadPool(3).size(), 3);
}

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads);
    for (size_t n : {0, 1, 2, 3, 4, 5, 7, 16, 100, 1001}) {
      for (size_t grain : {0, 1, 3, 16}) {
        std::vector<std::atomic<int>> hits(n);
        std::atomic<int> calls{0};
        std::atomic<bool> bad_range{false};
        pool.parallel_for(
            n,
            [&](size_t b, size_t e) {
              calls.fetch_add(1);
              const size_t g = grain == 0 ? 1 : grain;
              if (b >= e || e > n || b % g != 0 || (e != n && (e - b) % g != 0)) bad_range = true;
              for (size_t i = b; i < e; ++i) hits[i].fetch_add(1);
            },
            grain);
        EXPECT_FALSE(bad_range) << threads << " " << n << " " << grain;
        EXPECT_LE(calls.load(), threads);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " " << n << " " << grain << " " << i;
      }
    }
  }
}

TEST(ThreadPool, ManyCallsInARow) {
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads);
    std::vector<int64_t> data(257);
    for (int iter = 0; iter < 500; ++iter) {
      pool.parallel_for(data.size(), [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) data[i] += static_cast<int64_t>(i);
      });
    }
    for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], 500 * static_cast<int64_t>(i));
  }
}

TEST(ThreadPool, WakesAfterSleeping) {
  ThreadPool pool(3);
  std::atomic<int> sum{0};
  for (int iter = 0; iter < 5; ++iter) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));  // workers go to sleep
    pool.parallel_for(3, [&](size_t b, size_t e) { sum.fetch_add(static_cast<int>(e - b)); });
  }
  EXPECT_EQ(sum.load(), 15);
}

TEST(ThreadPool, UsesSeveralThreads) {
  ThreadPool pool(2);
  std::mutex mu;
  std::vector<std::thread::id> ids;
  pool.parallel_for(2, [&](size_t, size_t) {
    std::lock_guard<std::mutex> lock(mu);
    ids.push_back(std::this_thread::get_id());
  });
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_NE(ids[0], ids[1]);
}

TEST(ThreadPool, NestedCallRunsInline) {
  ThreadPool pool(2);
  std::atomic<int> total{0};
  pool.parallel_for(4, [&](size_t b, size_t e) {
    pool.parallel_for(10, [&](size_t b2, size_t e2) { total.fetch_add(static_cast<int>((e2 - b2) * (e - b))); });
  });
  EXPECT_EQ(total.load(), 40);
}

// Pools made and destroyed back to back, idle or just after work, each cover
// their range exactly once; a worker left behind or a lost range shows here
// (and a hang in destruction times the test out).
TEST(ThreadPool, CreateAndDestroyQuickly) {
  for (int i = 0; i < 50; ++i) {
    ThreadPool pool(1 + i % 4);
    if (i % 2 == 0) continue;
    std::vector<std::atomic<int>> hits(8 + static_cast<size_t>(i));
    pool.parallel_for(hits.size(), [&](size_t b, size_t e) {
      for (size_t k = b; k < e; ++k) hits[k].fetch_add(1);
    });
    for (size_t k = 0; k < hits.size(); ++k) ASSERT_EQ(hits[k].load(), 1) << "pool " << i << " index " << k;
  }
}

}  // namespace
}  // namespace kvforge::core

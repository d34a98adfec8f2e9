#include "kvforge/core/background_worker.h"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace kvforge::core {
namespace {

TEST(BackgroundWorker, RunsTasksInOrderOffTheCallersThread) {
  std::vector<int> order;
  std::promise<std::thread::id> where;
  auto where_f = where.get_future();
  std::promise<void> done;
  {
    BackgroundWorker w;
    w.post([&] { where.set_value(std::this_thread::get_id()); });
    for (int i = 0; i < 100; ++i) w.post([&order, i] { order.push_back(i); });
    w.post([&] { done.set_value(); });
    done.get_future().wait();
  }
  EXPECT_NE(where_f.get(), std::this_thread::get_id());
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(BackgroundWorker, DestructionDropsQueuedTasksAndFinishesTheRunningOne) {
  std::atomic<int> ran{0};
  std::atomic<bool> first_finished{false};
  std::promise<void> started;
  {
    BackgroundWorker w;
    w.post([&] {
      started.set_value();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      first_finished = true;
    });
    for (int i = 0; i < 1000; ++i) w.post([&] { ++ran; });
    started.get_future().wait();
  }  // the first task is running: it finishes, the 1000 queued behind it are dropped
  EXPECT_TRUE(first_finished.load());
  EXPECT_LT(ran.load(), 1000);  // all of them only if the destructor had drained the queue
}

}  // namespace
}  // namespace kvforge::core

// One thread that runs posted tasks in order, off the caller's path: work
// whose result is needed later (re-training an index while decoding goes on).
// Tasks report back through state they own (e.g. a std::promise); a task
// still queued when the worker is destroyed is dropped without running, the
// one running is finished first.
// Thread-safety: post() may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace kvforge::core {

class BackgroundWorker {
 public:
  BackgroundWorker();
  ~BackgroundWorker();
  BackgroundWorker(const BackgroundWorker&) = delete;
  BackgroundWorker& operator=(const BackgroundWorker&) = delete;

  void post(std::function<void()> task);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace kvforge::core

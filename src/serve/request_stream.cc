#include "kvforge/serve/request.h"

namespace kvforge::serve {

bool RequestStream::next(std::string* text, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, wait, [&] { return !pending_.empty() || done_; });
  text->append(pending_);
  const bool had_text = !pending_.empty();
  pending_.clear();
  return had_text || !done_;
}

void RequestStream::cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
}

bool RequestStream::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

std::string RequestStream::wait_all() {
  std::string all;
  while (next(&all, std::chrono::milliseconds(1000))) {
  }
  return all;
}

Outcome RequestStream::outcome() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outcome_;
}

void RequestStream::push(const std::string& text) {
  if (text.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ += text;
  }
  cv_.notify_all();
}

void RequestStream::finish(Outcome outcome) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outcome_ = std::move(outcome);
    done_ = true;
  }
  cv_.notify_all();
}

}  // namespace kvforge::serve

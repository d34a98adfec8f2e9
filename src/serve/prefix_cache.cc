#include "serve/prefix_cache.h"

#include <algorithm>

namespace kvforge::serve {

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

PrefixCache::Match PrefixCache::best(std::span<const int32_t> prompt) {
  auto best = entries_.end();
  size_t best_tokens = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const size_t n = common_prefix(it->tokens, prompt);
    if (n > best_tokens) {
      best_tokens = n;
      best = it;
    }
  }
  if (best == entries_.end()) return {};
  entries_.splice(entries_.begin(), entries_, best);
  return {&entries_.front().kv, best_tokens};
}

void PrefixCache::insert(std::vector<int32_t> tokens, kv::DenseKvF16 kv) {
  if (tokens.empty() || capacity_ == 0) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (common_prefix(it->tokens, tokens) == it->tokens.size()) {
      bytes_ -= it->bytes;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  Entry e;
  e.bytes = (kv.k.size() + kv.v.size()) * sizeof(uint16_t) + tokens.size() * (sizeof(int32_t) * 2);
  if (e.bytes > capacity_) return;
  e.tokens = std::move(tokens);
  e.kv = std::move(kv);
  bytes_ += e.bytes;
  entries_.push_front(std::move(e));
  drop_over_budget();
}

void PrefixCache::drop_over_budget() {
  while (bytes_ > capacity_ && !entries_.empty()) {
    bytes_ -= entries_.back().bytes;
    entries_.pop_back();
  }
}

}  // namespace kvforge::serve

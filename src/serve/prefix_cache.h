// Tier 1 of KV reuse beyond the slots: recent token prefixes and their KV in
// RAM, least recently used dropped first to stay within a byte budget (the
// llama-server prompt cache / LMCache's CPU tier). A slot's content is saved
// here when a request with another prompt is about to overwrite it.
// Not thread-safe: the engine's scheduler thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <span>
#include <vector>

#include "kvforge/kv/kv_cache.h"

namespace kvforge::serve {

// Tokens both sequences begin with.
size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);

class PrefixCache {
 public:
  explicit PrefixCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  struct Match {
    const kv::DenseKvF16* kv = nullptr;  // null: nothing shared
    size_t tokens = 0;                   // leading tokens of the prompt it holds
  };
  // The entry sharing the longest prefix with `prompt` (now the most recent).
  Match best(std::span<const int32_t> prompt);
  // Saves `kv` (its first tokens.size() tokens) under `tokens`; an entry that
  // is a prefix of `tokens` is replaced. Entries over the budget are dropped.
  void insert(std::vector<int32_t> tokens, kv::DenseKvF16 kv);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return entries_.size(); }

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    kv::DenseKvF16 kv;
    size_t bytes = 0;
  };
  void drop_over_budget();
  size_t capacity_;
  size_t bytes_ = 0;
  std::list<Entry> entries_;  // front: most recently used
};

}  // namespace kvforge::serve

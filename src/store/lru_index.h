// Size accounting and least-recently-used order of a backend's blobs, shared by
// the mem and file backends. Not thread-safe: the backend holds its lock.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "kvforge/store/backend.h"

namespace kvforge::store {

class LruIndex {
 public:
  explicit LruIndex(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // Adds or replaces `key` as the most recently used entry.
  void insert(const ChunkKey& key, uint64_t bytes, int64_t use_micros);
  // Marks a use; false when absent.
  bool touch(const ChunkKey& key, int64_t use_micros);
  bool contains(const ChunkKey& key) const { return entries_.count(key) != 0; }
  bool erase(const ChunkKey& key);
  // Least recently used entries that must go for the capacity to hold, never
  // `keep` (may be null). They stay indexed until erased (the caller deletes
  // their bytes first).
  std::vector<ChunkKey> victims(const ChunkKey* keep) const;

  // Most recently used first.
  std::vector<EntryInfo> list() const;
  BackendStats stats() const;
  void count_eviction() { ++evictions_; }
  uint64_t capacity() const { return capacity_; }

 private:
  struct Entry {
    uint64_t bytes;
    int64_t use_micros;
    std::list<ChunkKey>::iterator order;
  };
  uint64_t capacity_;
  uint64_t bytes_ = 0;
  uint64_t evictions_ = 0;
  std::list<ChunkKey> order_;  // most recently used at the front
  std::unordered_map<ChunkKey, Entry> entries_;
};

}  // namespace kvforge::store


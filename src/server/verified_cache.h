// Chunks the server has already read and verified, kept parsed so that a
// level GET costs one frame copy instead of reading the whole container (all
// levels) from the backend and checking its checksum again: over a link, that
// fixed cost per request is what keeps small frames from being fast.
// LRU under a byte bound; a PUT of the key drops its entry. What the cache
// serves was verified when it was read: damage to the backend's copy after
// that is found at the next read that misses the cache.
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "kvforge/store/stored_chunk.h"

namespace kvforge::server {

class VerifiedCache {
 public:
  explicit VerifiedCache(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  std::shared_ptr<const store::StoredChunk> find(const store::ChunkKey& key);
  // Keeps `chunk` (whose container is `bytes` long), evicting the least
  // recently used entries beyond the capacity; a chunk larger than it is not kept.
  void insert(std::shared_ptr<const store::StoredChunk> chunk, uint64_t bytes);
  void erase(const store::ChunkKey& key);

 private:
  struct Entry {
    std::shared_ptr<const store::StoredChunk> chunk;
    uint64_t bytes = 0;
    std::list<store::ChunkKey>::iterator at;
  };
  const uint64_t capacity_;
  std::mutex mu_;
  uint64_t bytes_ = 0;
  std::list<store::ChunkKey> order_;  // most recent first
  std::unordered_map<store::ChunkKey, Entry> entries_;
};

}  // namespace kvforge::server

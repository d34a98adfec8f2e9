#include "server/verified_cache.h"

namespace kvforge::server {

std::shared_ptr<const store::StoredChunk> VerifiedCache::find(const store::ChunkKey& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second.at);
  return it->second.chunk;
}

void VerifiedCache::insert(std::shared_ptr<const store::StoredChunk> chunk, uint64_t bytes) {
  if (bytes > capacity_) return;
  std::lock_guard lock(mu_);
  const store::ChunkKey key = chunk->key;
  if (auto it = entries_.find(key); it != entries_.end()) {
    bytes_ -= it->second.bytes;
    order_.erase(it->second.at);
    entries_.erase(it);
  }
  order_.push_front(key);
  entries_[key] = Entry{std::move(chunk), bytes, order_.begin()};
  bytes_ += bytes;
  while (bytes_ > capacity_) {
    auto victim = entries_.find(order_.back());
    bytes_ -= victim->second.bytes;
    entries_.erase(victim);
    order_.pop_back();
  }
}

void VerifiedCache::erase(const store::ChunkKey& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  bytes_ -= it->second.bytes;
  order_.erase(it->second.at);
  entries_.erase(it);
}

}  // namespace kvforge::server

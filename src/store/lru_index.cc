#include "store/lru_index.h"

namespace kvforge::store {

void LruIndex::insert(const ChunkKey& key, uint64_t bytes, int64_t use_micros) {
  erase(key);
  order_.push_front(key);
  entries_.emplace(key, Entry{bytes, use_micros, order_.begin()});
  bytes_ += bytes;
}

bool LruIndex::touch(const ChunkKey& key, int64_t use_micros) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  it->second.use_micros = use_micros;
  order_.splice(order_.begin(), order_, it->second.order);
  return true;
}

bool LruIndex::erase(const ChunkKey& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  bytes_ -= it->second.bytes;
  order_.erase(it->second.order);
  entries_.erase(it);
  return true;
}

std::vector<ChunkKey> LruIndex::victims(const ChunkKey* keep) const {
  std::vector<ChunkKey> out;
  if (capacity_ == 0) return out;
  uint64_t bytes = bytes_;
  for (auto it = order_.rbegin(); it != order_.rend() && bytes > capacity_; ++it) {
    if (keep && *it == *keep) continue;
    bytes -= entries_.at(*it).bytes;
    out.push_back(*it);
  }
  return out;
}

std::vector<EntryInfo> LruIndex::list() const {
  std::vector<EntryInfo> out;
  out.reserve(entries_.size());
  for (const ChunkKey& key : order_) {
    const Entry& e = entries_.at(key);
    out.push_back({key, e.bytes, e.use_micros});
  }
  return out;
}

BackendStats LruIndex::stats() const { return {entries_.size(), bytes_, capacity_, evictions_}; }

}  // namespace kvforge::store


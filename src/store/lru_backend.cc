#include "store/lru_backend.h"

namespace kvforge::store {

Result<bool> LruBackend::contains(const ChunkKey& key) {
  std::lock_guard lock(mu_);
  return index_.contains(key);
}

Result<std::vector<EntryInfo>> LruBackend::list() {
  std::lock_guard lock(mu_);
  return index_.list();
}

Result<BackendStats> LruBackend::stats() {
  std::lock_guard lock(mu_);
  return index_.stats();
}

Status LruBackend::check_fits(const ChunkKey& key, size_t bytes) const {
  if (index_.capacity() == 0 || bytes <= index_.capacity()) return Status::OK();
  return Status::ResourceExhausted("store: chunk " + key.hex() + " of " + std::to_string(bytes) +
                                   " bytes exceeds the capacity of " + url_);
}

Status LruBackend::not_found(const ChunkKey& key) const {
  return Status::NotFound("store: chunk " + key.hex() + " is not in " + url_);
}

}  // namespace kvforge::store

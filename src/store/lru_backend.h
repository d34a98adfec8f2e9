// What the mem and file backends share: an in-process LRU index of their blobs
// under a mutex, answering contains, list and stats from it, and the capacity
// check and NotFound message. Subclasses hold mu_ whenever they touch index_.
#pragma once

#include <mutex>
#include <string>

#include "kvforge/core/env.h"
#include "kvforge/store/backend.h"
#include "store/lru_index.h"

namespace kvforge::store {

class LruBackend : public Backend {
 public:
  std::string url() const override { return url_; }
  Result<bool> contains(const ChunkKey& key) override;
  Result<std::vector<EntryInfo>> list() override;
  Result<BackendStats> stats() override;

 protected:
  // `env` (not owned) gives the use-stamp clock, and the file backend its files.
  LruBackend(std::string url, uint64_t capacity_bytes, core::Env* env)
      : url_(std::move(url)), env_(env), index_(capacity_bytes) {}

  // ResourceExhausted when one blob of `bytes` alone exceeds the capacity.
  Status check_fits(const ChunkKey& key, size_t bytes) const;
  Status not_found(const ChunkKey& key) const;

  const std::string url_;
  core::Env* const env_;
  std::mutex mu_;
  LruIndex index_;
};

}  // namespace kvforge::store

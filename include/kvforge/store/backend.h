// Where stored chunks live: one small interface over byte blobs named by
// ChunkKey, with implementations chosen by URL (registry.h): `file://` (the
// embedded default), `mem://`, later `redis://`. A backend knows nothing of
// what the bytes mean; stored_chunk.h gives them their format.
//
// Thread-safety: every method may be called concurrently on one backend.
// Failure: put either stores the whole blob or leaves the previous one (or
// none); remove and eviction delete whole blobs. NotFound means "not stored"
// (recompute or fetch elsewhere); IOError means the medium failed.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/store/chunk_key.h"

namespace kvforge::store {

// One stored blob as list() reports it.
struct EntryInfo {
  ChunkKey key;
  uint64_t bytes = 0;
  // Last put or get, microseconds since the Unix epoch.
  int64_t last_use_micros = 0;
};

struct BackendStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t capacity_bytes = 0;  // 0: unbounded
  uint64_t evictions = 0;       // blobs dropped for capacity since open
};

// What Backend::repair (and store::fsck) found and fixed.
struct RepairReport {
  uint64_t blobs = 0;            // blobs present after the repair
  uint64_t entries_dropped = 0;  // bookkeeping entries whose blob was gone
  uint64_t entries_fixed = 0;    // entries added or corrected for blobs present
  uint64_t bytes_before = 0;     // the byte total as kept before / after
  uint64_t bytes_after = 0;
  uint64_t damaged_removed = 0;  // containers that failed verification (store::fsck)
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The URL it was opened from (what open() takes back).
  virtual std::string url() const = 0;

  // Stores `bytes` under `key`, replacing any earlier blob, then evicts least
  // recently used blobs (never this one) until the capacity holds.
  // ResourceExhausted when the blob alone exceeds the capacity.
  virtual Status put(const ChunkKey& key, std::string_view bytes) = 0;
  // The blob, which counts as a use (LRU). NotFound when absent.
  virtual Result<std::string> get(const ChunkKey& key) = 0;
  virtual Result<bool> contains(const ChunkKey& key) = 0;
  // NotFound when absent.
  virtual Status remove(const ChunkKey& key) = 0;

  // Optional (NotSupported by default): the blob without counting a use.
  virtual Result<std::string> peek(const ChunkKey& key);
  // Optional: every blob, most recently used first.
  virtual Result<std::vector<EntryInfo>> list();
  virtual Result<BackendStats> stats();
  // Makes the backend's bookkeeping (LRU order, sizes, byte total) agree with
  // the blobs it holds, after something outside deleted blobs under it (Redis
  // evicting keys for maxmemory). The default has nothing to repair: it reports.
  virtual Result<RepairReport> repair();

  // How many leading keys are stored (the longest stored prefix of a context
  // whose chunk keys these are). Backends with batched lookups may override.
  virtual Result<size_t> longest_prefix(std::span<const ChunkKey> keys);

 protected:
  Backend() = default;
};

}  // namespace kvforge::store

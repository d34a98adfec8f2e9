// The slower tier of PQCache: full keys and values of indexed tokens kept in a
// memory-mapped file, served through an LFU cache of fixed-size token blocks
// (PQCache uses 128-token blocks). Codes and centroids stay hot in the index;
// a retrieval fetches its top-k tokens' K/V through the block cache, and the
// hit rate says how often a block was already resident.
//
// File layout (native floats, never exchanged between machines):
//   [block][layer][kv_head][token in block][k | v][head_dim]
// so the file grows by appending whole block rows as positions advance. The
// file is created in a temporary directory and removed on destruction.
//
// Thread-safety: every call takes one internal lock (calls for different heads
// may come from different threads).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/kv/kv_cache.h"

namespace kvforge::pq {

struct TierOptions {
  int block_tokens = 128;    // tokens per block
  size_t cache_blocks = 64;  // blocks the LFU cache holds (all layers and heads together)
  std::string directory;     // where the file goes; empty: the system's temporary directory
};

struct TierStats {
  int64_t hits = 0;    // token fetches whose block was resident
  int64_t misses = 0;  // token fetches that loaded their block from the file
  int64_t block_loads = 0;
  double hit_rate() const { return hits + misses ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0.0; }
};

class KvTier {
 public:
  // InvalidArgument for block_tokens < 1 or cache_blocks < 1; IOError naming the
  // file when it cannot be created or mapped.
  static Result<std::unique_ptr<KvTier>> create(const TierOptions& options, kv::KvShape shape);
  ~KvTier();
  KvTier(const KvTier&) = delete;
  KvTier& operator=(const KvTier&) = delete;

  // Writes one token's key and value (head_dim floats each) at its position.
  // A block already cached is updated too. IOError when the file cannot grow.
  Status store(int layer, int kv_head, int32_t position, const float* k, const float* v);
  // Copies the K/V of `positions` (stored before, any order) into k_out/v_out
  // ([positions.size()][head_dim], row i for positions[i]) through the block
  // cache. Blocks are visited in ascending order whatever the order asked, so
  // one block's tokens are served together (one load, then hits) and the
  // caller keeps the order attention sums in.
  void fetch(int layer, int kv_head, std::span<const int32_t> positions, float* k_out, float* v_out);

  TierStats stats() const;
  size_t file_bytes() const;
  const std::string& path() const { return path_; }

 private:
  KvTier(const TierOptions& options, kv::KvShape shape);
  Status grow(size_t blocks);
  size_t block_bytes() const;  // one (layer, head) block
  size_t row_bytes() const;    // one block index across all layers and heads

  struct Entry {
    uint64_t key = 0;  // (block << 32) | (layer * n_kv_heads + kv_head)
    uint64_t freq = 0;
    uint64_t last_use = 0;
    bool used = false;
  };

  TierOptions options_;
  kv::KvShape shape_;
  std::string path_;
  int fd_ = -1;
  uint8_t* map_ = nullptr;
  size_t mapped_blocks_ = 0;  // block rows the file and mapping hold
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // [cache_blocks]
  std::unordered_map<uint64_t, size_t> where_;  // key -> entry of the resident blocks
  std::vector<float> slots_;    // [cache_blocks][block_tokens][2][head_dim]
  uint64_t tick_ = 0;
  TierStats stats_;
};

}  // namespace kvforge::pq

// What code that moves KV caches around (stream's loader, publisher and
// calibration) needs from whoever owns the model: the cache, the model's
// fingerprint (stored chunks are keyed by it), a pool for decoding, and a way to
// compute the KV of tokens it could not load. model::Session implements it, so
// stream never includes model and the layering is kept by the build.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/core/thread_pool.h"
#include "kvforge/kv/kv_cache.h"

namespace kvforge::kv {

class Recompute {
 public:
  virtual ~Recompute() = default;

  virtual KvCache& cache() = 0;
  virtual uint64_t model_fingerprint() const = 0;
  virtual core::ThreadPool* pool() = 0;  // may be null: decode single-threaded
  virtual void reset() = 0;              // empties the cache

  // Runs `tokens` through the model after what the cache holds, appending their
  // K/V; with `last_logits`, fills it with the last token's logits.
  virtual Status recompute(std::span<const int32_t> tokens, std::vector<float>* last_logits) = 0;
};

}  // namespace kvforge::kv

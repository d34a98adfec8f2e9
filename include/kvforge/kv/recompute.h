// What code that moves KV caches around (stream's loader, publisher and
// calibration) needs from whoever owns the model: the cache, the model's
// fingerprint (stored chunks are keyed by it), a pool for decoding, and a way to
// compute the KV of tokens it could not load (and layer 0's keys of tokens, to
// check loaded KV against its text). model::Session implements it, so
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

  // Layer 0's keys of `tokens` at positions first_position, first_position + 1, ...
  // as the cache would receive them (fp32, before its storage rounding), into
  // `out`: [kv_head][token][head_dim], n_kv_heads * tokens.size() * head_dim
  // floats. They depend only on each token and its position, so they cost a
  // fraction of one layer and need no cache; the cache is left as it is.
  // InvalidArgument for a token outside the vocabulary, OutOfRange for positions
  // the session does not allow.
  virtual Status layer0_keys(std::span<const int32_t> tokens, int32_t first_position, float* out) = 0;
};

}  // namespace kvforge::kv

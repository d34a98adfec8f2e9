// Internal to retrieval: one (layer, kv head)'s index and what a selection asks of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <mutex>
#include <span>
#include <vector>

#include "kvforge/kv/kv_cache.h"
#include "kvforge/pq/product_quantizer.h"
#include "kvforge/pq/retrieval.h"

namespace kvforge::pq {

// A head's quantizer re-trained in the background on a snapshot of its keys,
// with the codes of the snapshot's middle range.
struct Retrained {
  ProductQuantizer pq;
  PackedCodes codes;
  std::vector<int32_t> slots;
  size_t trained_on = 0;
};

// One selection's middle range, the candidates [sinks, sinks + n_mid) between
// the sinks and the local window, and the GQA group's queries over it.
struct MiddleRange {
  std::span<const float> queries;  // group rows of head_dim
  std::span<const int32_t> candidates;
  size_t sinks = 0, n_mid = 0, head_dim = 0;
  int group = 1;
  float scale = 1.0f;  // 1 / sqrt(head_dim)
};

struct RetrievalSelector::HeadIndex {
  std::mutex mu;
  std::future<Retrained> retraining;  // valid while a re-training runs
  size_t swap_at = 0;                 // the visible-token count at which it replaces the index
  bool built = false;
  ProductQuantizer pq;
  PackedCodes codes;
  std::vector<int32_t> slots;  // slots[i]: the slot code i describes (candidate sinks + i)
  size_t trained_on = 0;       // keys the quantizer was trained on
  RetrievalStats stats;
  std::vector<float> scores, combined, table, keys;
  std::vector<float> key_row;  // one key as fp32 (exact scores over an F16 cache)
  std::vector<int32_t> top, exact, positions;
  int64_t tier_errors = 0;
  int32_t tier_stored = -1;  // the last position written to the tier

  // The middle range's top_k by exact scores (combined over the group) into *out.
  void exact_top(const kv::KvHead& head, const MiddleRange& r, size_t top_k, std::vector<int32_t>* out);
  // The middle range's top_k by PQ scores into top.
  void pq_top(const MiddleRange& r, size_t top_k);
  // Adds top's recall against the exact top_k to the statistics.
  void track_recall(const kv::KvHead& head, const MiddleRange& r, size_t top_k);
};

}  // namespace kvforge::pq

// Retrieval attention (PQCache): at each decode step a query attends exactly
// to the attention sinks, a local window, the current token and the top-k
// other tokens, chosen per kv head by approximate scores from product-quantized
// keys (method kPq) or by exact q.k scores (method kOracle, the reference that
// separates retrieval error from the sparsity itself).
//
// Budget, for a query that sees n tokens (itself included): B = ceil(ratio * n)
// tokens beyond the sinks, split into a local window of W = B / 2 tokens
// before the current one and k = B - W retrieved tokens from the middle range
// [sinks, n - 1 - W). A query that sees no more than sinks + B + 1 tokens
// attends to all of them.
//
// GQA: the query heads of a group share the kv head's selection. Each head's
// approximate scores (q.k / sqrt(head_dim)) go through a softmax over the
// middle range; the group's probabilities are summed and the top-k of the sum
// are chosen (PQCache's combination). A group of one ranks scores directly.
//
// Index: per (layer, kv head), when build() runs (after prefill) the head's
// post-RoPE keys train the quantizer and the middle range gets codes; tokens
// that later leave the local window get codes by nearest centroid, and the
// index is re-trained in the background once the context has grown by
// `retrain` (RetrievalOptions::retrain).
// With a tier (tier_blocks > 0) indexed tokens' K/V are also written to the
// tier, and each retrieval fetches its top-k's K/V through the block cache and
// hands them to attention (select_and_gather), which reads those from the tier
// and only the sinks, window and current token from the cache.
//
// The selector assumes the cache's slots are not evicted while it is
// installed; a head whose slots changed under it is re-indexed.
//
// Thread-safety: select() may run concurrently for different (layer, kv head)
// pairs and, serialized by a per-head lock, for the same one.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/kv/attention.h"
#include "kvforge/kv/kv_cache.h"
#include "kvforge/pq/product_quantizer.h"
#include "kvforge/pq/tier.h"

namespace kvforge::core {
class BackgroundWorker;
}

namespace kvforge::pq {

enum class Method { kPq, kOracle };

inline constexpr size_t kMinRetrainLag = 16;
// Below this n * head_dim * 2^bits (one k-means iteration's multiply-adds) a
// head re-trains synchronously: it takes milliseconds.
inline constexpr double kSyncRetrainWork = 1 << 20;
const char* method_name(Method method);

struct RetrievalOptions {
  Method method = Method::kPq;
  double ratio = 0.2;  // budget beyond the sinks, a fraction in (0, 1] of the visible tokens
  int sinks = 32;      // leading tokens always attended
  int m = 2;           // PQ sub-spaces (must divide head_dim)
  int bits = 6;        // PQ bits per sub-space code (4, 6, 8)
  int iterations = 20; // k-means iterations
  uint64_t seed = 1;
  // Re-train a head's quantizer once the context is `retrain` times the one it
  // was trained on (0: never; codes of later tokens come from nearest
  // centroids). Small heads (kSyncRetrainWork) re-train at once; larger ones
  // on a background thread over a snapshot of the keys, whose index replaces
  // the old one once the context has grown by another (retrain - 1) / 2 (at
  // least kMinRetrainLag tokens), so decoding neither stalls for it nor
  // depends on when it finishes.
  double retrain = 1.2;
  // Slower tier (tier.h): 0 keeps K/V only in the cache; N > 0 also writes the
  // indexed tokens' K/V to a memory-mapped file and fetches each retrieval's
  // top-k through an LFU cache of N blocks of `block_tokens` tokens.
  size_t tier_blocks = 0;
  int block_tokens = 128;
  bool track_recall = false;  // kPq: also compute the exact top-k and count overlap (slow)
};

// "RATIO[:key=value,...]", keys m, bits, sinks, iters, seed, retrain, tier
// (cache blocks), block (tokens per block), method (pq|oracle),
// e.g. "0.2:m=2,bits=6". InvalidArgument naming the bad part.
Result<RetrievalOptions> parse_retrieval_spec(const std::string& spec);
// InvalidArgument for ratio outside (0, 1], sinks < 0, or PQ parameters that
// validate() refuses for this head_dim.
Status validate(const RetrievalOptions& options, int head_dim);

// Tokens a query that sees n tokens attends (sinks, window, top-k, itself).
struct BudgetSplit {
  size_t window = 0;  // before the current token
  size_t top_k = 0;
  bool all = true;    // the query attends to every token
};
BudgetSplit split_budget(const RetrievalOptions& options, size_t n_visible);

struct RetrievalStats {
  int64_t selections = 0;     // select() calls that retrieved (not "attend all")
  double recall_sum = 0;      // sum over those of |chosen ∩ exact top-k| / k (track_recall)
  int64_t recall_count = 0;
  int64_t retrains = 0;         // re-trainings that replaced a head's index
  double retrain_wait_ms = 0;   // decode time spent waiting for one to finish
  TierStats tier;             // fetches through the block cache (tier_blocks > 0)
  int64_t tier_errors = 0;    // K/V the tier could not store (its file could not grow)
  double recall() const { return recall_count ? recall_sum / static_cast<double>(recall_count) : 0.0; }
};

class RetrievalSelector final : public kv::SlotSelector {
 public:
  // InvalidArgument from validate().
  static Result<std::unique_ptr<RetrievalSelector>> create(const RetrievalOptions& options, kv::KvShape shape);
  ~RetrievalSelector() override;

  // Indexes the cache's current keys for every (layer, kv head), heads in
  // parallel on pool (may be null). Needed for kPq before decoding; a head
  // never built is built on its first select() (single-threaded).
  Status build(const kv::KvCache& cache, core::ThreadPool* pool);

  // Called directly (not through attention), a retrieval with a tier still
  // fetches its top-k through the block cache, so the traffic counts the same;
  // the rows are dropped.
  void select(int layer, int kv_head, int32_t query_position, const kv::KvHead& head, std::span<const float> queries,
              std::span<const int32_t> candidates, std::vector<int32_t>* selected) override;
  // With a tier, *gathered holds the top-k's K/V fetched from it (the top-k
  // follow the sinks in *selected); without one, or when the query attends to
  // all, nothing is gathered.
  void select_and_gather(int layer, int kv_head, int32_t query_position, const kv::KvHead& head,
                         std::span<const float> queries, std::span<const int32_t> candidates,
                         std::vector<int32_t>* selected, kv::GatheredKv* gathered) override;

  const RetrievalOptions& options() const { return options_; }
  RetrievalStats stats() const;
  // Bytes of codes and centroids held for all heads (the "hot" tier).
  size_t index_bytes() const;
  // Forgets every index and the statistics.
  void reset();

 private:
  struct HeadIndex;
  RetrievalSelector(const RetrievalOptions& options, kv::KvShape shape);
  void build_head(HeadIndex* h, int head_index, const kv::KvHead& head, std::span<const int32_t> live,
                  size_t n_visible);
  void add_code(HeadIndex* h, int head_index, const kv::KvHead& head, int32_t slot);
  void start_retraining(HeadIndex* h, const kv::KvHead& head, std::span<const int32_t> candidates, size_t n_visible);
  void install_retrained(HeadIndex* h);
  void refresh_index(HeadIndex* h, int head_index, const kv::KvHead& head, std::span<const int32_t> candidates,
                     size_t n_mid);

  RetrievalOptions options_;
  kv::KvShape shape_;
  std::vector<std::unique_ptr<HeadIndex>> heads_;  // [layer][kv_head]
  std::unique_ptr<KvTier> tier_;                   // null unless options.tier_blocks > 0
  std::unique_ptr<core::BackgroundWorker> trainer_;  // re-trainings (retrain > 0, kPq)
};

// Group scores: for each query head g in [0, group), scores_g[i] = q_g . key_i
// * scale are given row by row in `scores` ([group][n]); the combination is
// written to combined[n]: the scores themselves for a group of one, else the
// sum of each row's softmax. `scores` is overwritten.
void combine_group(float* scores, int group, size_t n, float* combined);

}  // namespace kvforge::pq

// Attention over the cache, and the two seams later modules plug into:
//  - SlotSelector narrows, per kv head and query, which slots are visible
//    (retrieval picks top-k; the default is every causally visible live slot),
//    and may serve some of their keys and values itself (GatheredKv);
//  - AttentionObserver receives the softmax row of every query head (eviction
//    policies score tokens from it). With none registered nothing is copied.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kvforge/kv/gathered_kv.h"
#include "kvforge/kv/kv_cache.h"

namespace kvforge::core {
class ThreadPool;
}

namespace kvforge::kv {

class AttentionObserver {
 public:
  virtual ~AttentionObserver() = default;
  // One call per (query token, query head). For one kv head, calls are serial:
  // query tokens in order, and within a token the group's query heads in order
  // (q_head = kv_head * group + g). Calls for different kv heads may run
  // concurrently on different threads. probs[i] is the weight slot slots[i]
  // received; probs sums to 1. query_position is the querying token's position.
  virtual void on_attention(int layer, int q_head, int kv_head, int32_t query_position,
                            std::span<const int32_t> slots, std::span<const float> probs) = 0;
};

class SlotSelector {
 public:
  virtual ~SlotSelector() = default;
  // `candidates`: the live slots causally visible to the query (position <=
  // query_position), in position order. `queries`: the post-RoPE queries of the
  // kv head's group, [group_size][head_dim]. Write the slots to attend into
  // *selected (any order, each at most once, a subset of candidates).
  virtual void select(int layer, int kv_head, int32_t query_position, const KvHead& head,
                      std::span<const float> queries, std::span<const int32_t> candidates,
                      std::vector<int32_t>* selected) = 0;
  // What attention calls: select(), plus optionally the keys and values of a
  // run of the selected slots written to *gathered, which attention then reads
  // instead of the cache's (it trusts them: retrieval serves its top-k from a
  // slower tier this way, the same numbers the cache holds). The default
  // gathers nothing, so selectors that only choose slots implement select().
  virtual void select_and_gather(int layer, int kv_head, int32_t query_position, const KvHead& head,
                                 std::span<const float> queries, std::span<const int32_t> candidates,
                                 std::vector<int32_t>* selected, GatheredKv* gathered) {
    gathered->clear();
    select(layer, kv_head, query_position, head, queries, candidates, selected);
  }
};

// What attention sees of the cache: the cache plus optional selector/observer.
struct KvView {
  const KvCache* cache = nullptr;
  SlotSelector* selector = nullptr;
  AttentionObserver* observer = nullptr;
};

struct AttentionBatch {
  int layer = 0;
  int n_heads = 0;          // query heads; n_heads % n_kv_heads == 0
  size_t n_tokens = 0;      // query tokens in this batch
  const int32_t* positions = nullptr;  // [n_tokens]
  const float* q = nullptr;  // [n_tokens][n_heads][head_dim], post-RoPE
  float* out = nullptr;      // [n_tokens][n_heads][head_dim]
};

// Softmax(q.k / sqrt(head_dim)) v over the visible slots, for every query token
// and head of one layer. The batch's keys and values must already be in the
// cache. Parallel over (token, kv head) through pool; with an observer, over kv
// heads only, so each kv head's calls stay in query order.
void attend(const KvView& view, const AttentionBatch& batch, core::ThreadPool* pool);

}  // namespace kvforge::kv

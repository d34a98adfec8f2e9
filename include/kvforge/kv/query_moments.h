// Mean squared query components per (layer, kv head, channel): how strongly an
// error in each key channel moves attention scores (a score shifts by q_c * error_c).
// The codec profile weighs key channels by it.
//
// Collected as a SlotSelector that selects every candidate (attention unchanged),
// since the selector is where attention exposes its queries. Channels of a RoPE
// pair (2i, 2i+1) get their pair's mean: rotation mixes the two from token to token.
// Thread-safety: attention calls it concurrently for different kv heads only; each
// (layer, kv head) accumulates into its own slots.
#pragma once

#include <vector>

#include "kvforge/kv/attention.h"

namespace kvforge::kv {

class QueryMoments final : public SlotSelector {
 public:
  QueryMoments(int n_layers, int n_kv_heads, int head_dim);

  void select(int layer, int kv_head, int32_t query_position, const KvHead& head, std::span<const float> queries,
              std::span<const int32_t> candidates, std::vector<int32_t>* selected) override;

  // [layer][kv_head * head_dim + d]: mean over queries seen of the group's summed q_d^2
  // (pair-averaged); 0 where nothing was seen.
  std::vector<float> key_weights() const;

 private:
  int n_layers_, n_kv_heads_, head_dim_;
  std::vector<double> sum_;     // [layer][kv_head][d]
  std::vector<double> count_;   // [layer][kv_head]
};

}  // namespace kvforge::kv

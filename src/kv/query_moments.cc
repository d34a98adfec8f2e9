#include "kvforge/kv/query_moments.h"

namespace kvforge::kv {

QueryMoments::QueryMoments(int n_layers, int n_kv_heads, int head_dim)
    : n_layers_(n_layers),
      n_kv_heads_(n_kv_heads),
      head_dim_(head_dim),
      sum_(static_cast<size_t>(n_layers) * n_kv_heads * head_dim, 0.0),
      count_(static_cast<size_t>(n_layers) * n_kv_heads, 0.0) {}

void QueryMoments::select(int layer, int kv_head, int32_t, const KvHead&, std::span<const float> queries,
                          std::span<const int32_t> candidates, std::vector<int32_t>* selected) {
  selected->assign(candidates.begin(), candidates.end());
  if (layer < 0 || layer >= n_layers_ || kv_head < 0 || kv_head >= n_kv_heads_) return;
  const size_t D = static_cast<size_t>(head_dim_);
  double* acc = &sum_[(static_cast<size_t>(layer) * n_kv_heads_ + kv_head) * D];
  for (size_t g = 0; g < queries.size() / D; ++g) {
    const float* q = queries.data() + g * D;
    for (size_t d = 0; d + 1 < D; d += 2) {
      const double pair = 0.5 * (static_cast<double>(q[d]) * q[d] + static_cast<double>(q[d + 1]) * q[d + 1]);
      acc[d] += pair;
      acc[d + 1] += pair;
    }
    if (D % 2) acc[D - 1] += static_cast<double>(q[D - 1]) * q[D - 1];
  }
  count_[static_cast<size_t>(layer) * n_kv_heads_ + kv_head] += 1;
}

std::vector<float> QueryMoments::key_weights() const {
  std::vector<float> w(sum_.size(), 0.0f);
  for (size_t i = 0; i < sum_.size(); ++i) {
    const double n = count_[i / static_cast<size_t>(head_dim_)];
    w[i] = n > 0 ? static_cast<float>(sum_[i] / n) : 0.0f;
  }
  return w;
}

}  // namespace kvforge::kv

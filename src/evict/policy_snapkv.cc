// snapkv (Li et al. 2024, "SnapKV: LLM Knows What You are Looking for Before
// Generation"). Not in EasyKV.
// Prefill: score(slot) = sum of the attention (GQA group averaged) the slot got
// from the last `window` queries (the observation window), then 1-D pooled
// over the candidates in position order with `kernel` (5), "avg" (sum/kernel,
// zero padding counted, as PyTorch's avg_pool1d) or "max". The last `window`
// slots are always kept; the lowest pooled scores are evicted.
// Decode: the score is frozen at the last prefill eviction (or, with no
// prefill eviction, at the first decode eviction, from the last `window`
// queries then): prompt tokens keep their frozen score (the observation window
// +inf), tokens that entered later have none and go first, oldest first, once
// they leave the last `window` slots ("frozen score + recency").
#include <algorithm>
#include <limits>

#include "evict/policies.h"
#include "evict/scored_policy.h"

namespace kvforge::evict::detail {
namespace {

constexpr int kFrozen = 0, kHasFrozen = 1;

class SnapKvPolicy final : public ScoredPolicy {
 public:
  SnapKvPolicy(int stride, size_t window, size_t kernel, bool max_pool)
      : ScoredPolicy("snapkv", stride, 2, window), window_(window), kernel_(kernel), max_pool_(max_pool) {}

  // A budget smaller than twice the window would leave no room to choose, so
  // small budgets observe (and protect) a shorter window: keep / 2.
  size_t window_for(size_t keep) const { return keep == 0 ? window_ : std::min(window_, std::max<size_t>(1, keep / 2)); }
  Protection protection(Phase, size_t keep) const override { return {0, window_for(keep)}; }

 protected:
  void observe(HeadState& s, int32_t query_position, std::span<const int32_t> slots,
               std::span<const float> probs) override {
    if (s.frozen) return;  // decoding: the score no longer changes
    RowHistory::Row& row = s.history.push();
    row.query_position = query_position;
    row.slots.assign(slots.begin(), slots.end());
    row.values.assign(probs.begin(), probs.end());
    row.epochs.resize(slots.size());
    for (size_t i = 0; i < slots.size(); ++i) row.epochs[i] = s.epoch[static_cast<size_t>(slots[i])];
  }

  void choose(int layer, int kv_head, const kv::KvHead& head, size_t keep, size_t m, Phase phase,
              std::vector<int32_t>* victims) override {
    HeadState& s = state(layer, kv_head);
    const size_t window = window_for(keep);
    auto cands = candidates(head, protection(phase, keep));
    if (phase == Phase::kPrefill) {
      s.frozen = false;
      snapshot(s, head, window);
    } else if (!s.frozen) {
      if (!s.has_snapshot) snapshot(s, head, window);
      s.frozen = true;
      s.history.clear();
    }
    pick_lowest(cands, m, [&](uint32_t i) { return score(s, cands[i]); }, &s.order, victims);
  }

 private:
  static float score(const HeadState& s, int32_t slot) {
    return s.get(kHasFrozen, slot) > 0 ? s.get(kFrozen, slot) : std::numeric_limits<float>::lowest();
  }

  // Pooled observation-window scores of the candidates, stored as the frozen
  // score of every live slot (the window's own slots: +max).
  void snapshot(HeadState& s, const kv::KvHead& head, size_t window) {
    auto live = head.live_slots();
    if (!live.empty()) s.ensure(*std::max_element(live.begin(), live.end()));
    const size_t n_cands = live.size() > window ? live.size() - window : 0;
    // Raw window attention per slot (rows naming a previous occupant skipped).
    std::vector<float>& raw = s.scratch;
    raw.assign(s.epoch.size(), 0.0f);
    const size_t first_row = s.history.size() > window ? s.history.size() - window : 0;
    for (size_t r = first_row; r < s.history.size(); ++r) {
      const RowHistory::Row& row = s.history.at(r);
      for (size_t i = 0; i < row.slots.size(); ++i) {
        const auto slot = static_cast<size_t>(row.slots[i]);
        if (s.epoch[slot] == row.epochs[i]) raw[slot] += row.values[i];
      }
    }
    const size_t half = kernel_ / 2;
    for (size_t i = 0; i < live.size(); ++i) {
      float pooled = std::numeric_limits<float>::max();
      if (i < n_cands) {
        const size_t lo = i >= half ? i - half : 0;
        const size_t hi = std::min(n_cands - 1, i + half);
        float acc = max_pool_ ? std::numeric_limits<float>::lowest() : 0.0f;
        for (size_t j = lo; j <= hi; ++j) {
          const float v = raw[static_cast<size_t>(live[j])];
          acc = max_pool_ ? std::max(acc, v) : acc + v;
        }
        pooled = max_pool_ ? acc : acc / static_cast<float>(kernel_);
      }
      s.at(kFrozen, live[i]) = pooled;
      s.at(kHasFrozen, live[i]) = 1.0f;
    }
    s.has_snapshot = true;
  }

  size_t window_, kernel_;
  bool max_pool_;
};

}  // namespace

Result<PolicyPtr> make_snapkv(core::Spec& params) {
  KVF_ASSIGN_OR_RETURN(int64_t stride, params.get_int("stride", 8, 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t window, params.get_int("window", 32, 1, 1 << 16));
  KVF_ASSIGN_OR_RETURN(int64_t kernel, params.get_int("kernel", 5, 1, 1 << 10));
  KVF_ASSIGN_OR_RETURN(std::string pool, params.get_choice("pool", "avg", {"avg", "max"}));
  if (kernel % 2 == 0) {
    return Status::InvalidArgument("snapkv: kernel must be odd (centred pooling), got " + std::to_string(kernel));
  }
  return PolicyPtr(std::make_unique<SnapKvPolicy>(static_cast<int>(stride), static_cast<size_t>(window),
                                                  static_cast<size_t>(kernel), pool == "max"));
}

}  // namespace kvforge::evict::detail

// roco (Ren & Zhu 2024, "On the Efficacy of Eviction Policy for Key-Value
// Constrained Generative Language Model Inference"; EasyKV mode
// "h2o_head_std_avg"). Per (layer, kv head, slot), over the queries that
// attended the slot since it entered (a = GQA group averaged attention):
//   S = sum a, Q = sum a^2, n = count;  mu = S/n,  sigma = sqrt(max(0, Q/n - mu^2))
// Protected: the last `recent` (10) slots, and in prefill the `sinks` (4) oldest.
// Candidates: the k unprotected slots with the smallest sigma, with
//   prefill: k = max(B' - floor(prefill_ratio * B') - sinks, m),  B' = keep + stride
//   decode:  k = max(B - floor(decode_ratio * B), m),              B  = keep
// (m = slots to evict now); victims: the m candidates with the smallest mu.
#include <algorithm>
#include <cmath>

#include "evict/policies.h"
#include "evict/scored_policy.h"

namespace kvforge::evict::detail {
namespace {

constexpr int kSum = 0, kSquares = 1, kCount = 2;

class RocoPolicy final : public ScoredPolicy {
 public:
  RocoPolicy(int stride, size_t sinks, size_t recent, double prefill_ratio, double decode_ratio)
      : ScoredPolicy("roco", stride, 3),
        sinks_(sinks),
        recent_(recent),
        prefill_ratio_(prefill_ratio),
        decode_ratio_(decode_ratio) {}

  Protection protection(Phase phase, size_t) const override {
    return {phase == Phase::kPrefill ? sinks_ : 0, recent_};
  }

  // Size of the candidate set before clamping to m and to the unprotected count.
  size_t candidate_count(Phase phase, size_t keep) const {
    if (phase == Phase::kPrefill) {
      const size_t b = keep + static_cast<size_t>(stride());
      const size_t cut = static_cast<size_t>(std::floor(prefill_ratio_ * static_cast<double>(b))) + sinks_;
      return b > cut ? b - cut : 0;
    }
    const size_t cut = static_cast<size_t>(std::floor(decode_ratio_ * static_cast<double>(keep)));
    return keep > cut ? keep - cut : 0;
  }

 protected:
  void observe(HeadState& s, int32_t, std::span<const int32_t> slots, std::span<const float> probs) override {
    auto& sum = s.channels[kSum];
    auto& squares = s.channels[kSquares];
    auto& count = s.channels[kCount];
    for (size_t i = 0; i < slots.size(); ++i) {
      const auto slot = static_cast<size_t>(slots[i]);
      const float a = probs[i];
      sum[slot] += a;
      squares[slot] += a * a;
      count[slot] += 1.0f;
    }
  }

  void choose(int layer, int kv_head, const kv::KvHead& head, size_t keep, size_t m, Phase phase,
              std::vector<int32_t>* victims) override {
    HeadState& s = state(layer, kv_head);
    auto cands = candidates(head, protection(phase, keep));
    const size_t k = std::min(std::max(candidate_count(phase, keep), m), cands.size());
    // Stage 1: the k smallest sigma (ties: older).
    std::vector<int32_t>& feasible = s.picked;
    feasible.clear();
    pick_lowest(cands, k, [&](uint32_t i) { return sigma(s, cands[i]); }, &s.order, &feasible);
    // Stage 2 ranks by position on ties too: restore position order first.
    std::sort(feasible.begin(), feasible.end(),
              [&](int32_t a, int32_t b) { return head.position(a) < head.position(b); });
    pick_lowest(std::span<const int32_t>(feasible), m, [&](uint32_t i) { return mean(s, feasible[i]); }, &s.order,
                victims);
  }

 private:
  static float mean(const HeadState& s, int32_t slot) {
    const float n = s.get(kCount, slot);
    return n > 0 ? s.get(kSum, slot) / n : 0.0f;
  }
  static float sigma(const HeadState& s, int32_t slot) {
    const float n = s.get(kCount, slot);
    if (n <= 0) return 0.0f;
    const float mu = s.get(kSum, slot) / n;
    return std::sqrt(std::max(0.0f, s.get(kSquares, slot) / n - mu * mu));
  }

  size_t sinks_, recent_;
  double prefill_ratio_, decode_ratio_;
};

}  // namespace

Result<PolicyPtr> make_roco(core::Spec& params) {
  KVF_ASSIGN_OR_RETURN(int64_t stride, params.get_int("stride", 8, 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t sinks, params.get_int("sinks", 4, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t recent, params.get_int("recent", 10, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(double prefill_ratio, params.get_double("prefill_ratio", 0.1, 0.0, 1.0));
  KVF_ASSIGN_OR_RETURN(double decode_ratio, params.get_double("decode_ratio", 0.3, 0.0, 1.0));
  return PolicyPtr(std::make_unique<RocoPolicy>(static_cast<int>(stride), static_cast<size_t>(sinks),
                                                static_cast<size_t>(recent), prefill_ratio, decode_ratio));
}

}  // namespace kvforge::evict::detail

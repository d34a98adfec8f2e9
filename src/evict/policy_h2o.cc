// h2o (Heavy-Hitter Oracle, Zhang et al. 2023; EasyKV mode "h2o_head"):
// score(slot) = sum of the attention the slot received from every query since
// it entered (GQA group averaged), per kv head. Evicts the lowest scores
// outside the protected spans:
//   prefill: sinks (4) + recent floor(recent_ratio * B'), B' = keep + stride
//   decode:  recent floor(decode_recent_ratio * keep), no sinks
#include <cmath>

#include "evict/policies.h"
#include "evict/scored_policy.h"

namespace kvforge::evict::detail {
namespace {

class H2oPolicy final : public ScoredPolicy {
 public:
  H2oPolicy(int stride, size_t sinks, double recent_ratio, double decode_recent_ratio)
      : ScoredPolicy("h2o", stride, 1),
        sinks_(sinks),
        recent_ratio_(recent_ratio),
        decode_recent_ratio_(decode_recent_ratio) {}

  Protection protection(Phase phase, size_t keep) const override {
    if (phase == Phase::kPrefill) {
      const double b = static_cast<double>(keep) + stride();
      return {sinks_, static_cast<size_t>(std::floor(recent_ratio_ * b))};
    }
    return {0, static_cast<size_t>(std::floor(decode_recent_ratio_ * static_cast<double>(keep)))};
  }

 protected:
  void observe(HeadState& s, int32_t, std::span<const int32_t> slots, std::span<const float> probs) override {
    for (size_t i = 0; i < slots.size(); ++i) s.at(0, slots[i]) += probs[i];
  }

 private:
  size_t sinks_;
  double recent_ratio_, decode_recent_ratio_;
};

}  // namespace

Result<PolicyPtr> make_h2o(core::Spec& params) {
  KVF_ASSIGN_OR_RETURN(int64_t stride, params.get_int("stride", 8, 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t sinks, params.get_int("sinks", 4, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(double recent, params.get_double("recent_ratio", 0.1, 0.0, 1.0));
  KVF_ASSIGN_OR_RETURN(double decode_recent, params.get_double("decode_recent_ratio", 0.3, 0.0, 1.0));
  return PolicyPtr(std::make_unique<H2oPolicy>(static_cast<int>(stride), static_cast<size_t>(sinks), recent,
                                               decode_recent));
}

}  // namespace kvforge::evict::detail

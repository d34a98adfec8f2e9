// tova (Token Omission Via Attention, Oren et al. 2024; EasyKV mode "tova"):
// score(slot) = the attention the latest query gave it (GQA group averaged).
// Evicts the lowest scores outside the protected spans:
//   prefill: sinks (4) + recent floor(recent_ratio * B'), B' = keep + stride
//   decode:  nothing protected (EasyKV's decoding mode takes the argmin over all)
#include <cmath>

#include "evict/policies.h"
#include "evict/scored_policy.h"

namespace kvforge::evict::detail {
namespace {

class TovaPolicy final : public ScoredPolicy {
 public:
  TovaPolicy(int stride, size_t sinks, double recent_ratio)
      : ScoredPolicy("tova", stride, 1), sinks_(sinks), recent_ratio_(recent_ratio) {}

  Protection protection(Phase phase, size_t keep) const override {
    if (phase == Phase::kPrefill) {
      const double b = static_cast<double>(keep) + stride();
      return {sinks_, static_cast<size_t>(std::floor(recent_ratio_ * b))};
    }
    return {};
  }

 protected:
  void observe(HeadState& s, int32_t, std::span<const int32_t> slots, std::span<const float> probs) override {
    for (size_t i = 0; i < slots.size(); ++i) s.at(0, slots[i]) = probs[i];
  }

 private:
  size_t sinks_;
  double recent_ratio_;
};

}  // namespace

Result<PolicyPtr> make_tova(core::Spec& params) {
  KVF_ASSIGN_OR_RETURN(int64_t stride, params.get_int("stride", 8, 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t sinks, params.get_int("sinks", 4, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(double recent, params.get_double("recent_ratio", 0.1, 0.0, 1.0));
  return PolicyPtr(std::make_unique<TovaPolicy>(static_cast<int>(stride), static_cast<size_t>(sinks), recent));
}

}  // namespace kvforge::evict::detail

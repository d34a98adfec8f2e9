// scissorhands (Liu et al. 2023, "Scissorhands: Exploiting the Persistence of
// Importance Hypothesis"): importance(slot) = how many of the last `history`
// queries gave the slot more than the average attention of their row (1/n for
// a row over n slots; GQA group averaged). Evicts the lowest counts (ties: the
// older token) outside the `sinks` oldest and `recent` newest slots. Not in
// EasyKV.
#include "evict/policies.h"
#include "evict/scored_policy.h"

namespace kvforge::evict::detail {
namespace {

class ScissorhandsPolicy final : public ScoredPolicy {
 public:
  ScissorhandsPolicy(int stride, size_t history, size_t sinks, size_t recent)
      : ScoredPolicy("scissorhands", stride, 1, history), sinks_(sinks), recent_(recent) {}

  Protection protection(Phase, size_t) const override { return {sinks_, recent_}; }

 protected:
  void observe(HeadState& s, int32_t query_position, std::span<const int32_t> slots,
               std::span<const float> probs) override {
    // The query leaving the history window takes its votes with it (unless the
    // slot has been evicted and reused since: then its epoch differs).
    if (const RowHistory::Row* old = s.history.oldest_if_full()) {
      for (size_t i = 0; i < old->slots.size(); ++i) {
        if (s.epoch_of(old->slots[i]) == old->epochs[i]) s.at(0, old->slots[i]) -= 1.0f;
      }
    }
    RowHistory::Row& row = s.history.push();
    row.query_position = query_position;
    row.slots.clear();
    row.epochs.clear();
    const float average = slots.empty() ? 0.0f : 1.0f / static_cast<float>(slots.size());
    for (size_t i = 0; i < slots.size(); ++i) {
      if (probs[i] > average) {
        s.at(0, slots[i]) += 1.0f;
        row.slots.push_back(slots[i]);
        row.epochs.push_back(s.epoch[static_cast<size_t>(slots[i])]);
      }
    }
  }

 private:
  size_t sinks_, recent_;
};

}  // namespace

Result<PolicyPtr> make_scissorhands(core::Spec& params) {
  KVF_ASSIGN_OR_RETURN(int64_t stride, params.get_int("stride", 8, 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t history, params.get_int("history", 32, 1, 1 << 16));
  KVF_ASSIGN_OR_RETURN(int64_t sinks, params.get_int("sinks", 0, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t recent, params.get_int("recent", 10, 0, 1 << 20));
  return PolicyPtr(std::make_unique<ScissorhandsPolicy>(static_cast<int>(stride), static_cast<size_t>(history),
                                                        static_cast<size_t>(sinks), static_cast<size_t>(recent)));
}

}  // namespace kvforge::evict::detail

// random: uniform choice among the unprotected slots, seeded (reproducible).
// Protects `sinks` oldest and `recent` newest slots (defaults 0 and 1: the
// newest token is never dropped, as EasyKV's encoding-mode random baseline).
#include <random>

#include "evict/policies.h"
#include "evict/scored_policy.h"

namespace kvforge::evict::detail {
namespace {

class RandomPolicy final : public PolicyBase {
 public:
  RandomPolicy(int stride, uint64_t seed, size_t sinks, size_t recent)
      : PolicyBase("random", stride), seed_(seed), sinks_(sinks), recent_(recent) {}
  bool needs_attention() const override { return false; }
  Protection protection(Phase, size_t) const override { return {sinks_, recent_}; }
  void reset() override {
    // One generator per (layer, kv head), so the choice of one head does not
    // depend on how often the others were asked.
    rngs_.clear();
    const size_t n = static_cast<size_t>(shape().n_layers) * static_cast<size_t>(shape().n_kv_heads);
    for (size_t i = 0; i < n; ++i) rngs_.emplace_back(seed_ * 0x9E3779B97F4A7C15ull + i);
  }

 protected:
  void choose(int layer, int kv_head, const kv::KvHead& head, size_t, size_t m, Phase phase,
              std::vector<int32_t>* victims) override {
    auto cands = candidates(head, protection(phase, 0));
    pool_.assign(cands.begin(), cands.end());
    auto& rng = rngs_[head_index(layer, kv_head)];
    // Partial Fisher-Yates: the first m of pool_ become a uniform m-subset.
    for (size_t i = 0; i < m && i < pool_.size(); ++i) {
      std::uniform_int_distribution<size_t> pick(i, pool_.size() - 1);
      std::swap(pool_[i], pool_[pick(rng)]);
      victims->push_back(pool_[i]);
    }
  }

 private:
  uint64_t seed_;
  size_t sinks_, recent_;
  std::vector<std::mt19937_64> rngs_;
  std::vector<int32_t> pool_;
};

}  // namespace

Result<PolicyPtr> make_random(core::Spec& params) {
  KVF_ASSIGN_OR_RETURN(int64_t stride, params.get_int("stride", 8, 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t seed, params.get_int("seed", 1, 0, INT64_MAX));
  KVF_ASSIGN_OR_RETURN(int64_t sinks, params.get_int("sinks", 0, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t recent, params.get_int("recent", 1, 0, 1 << 20));
  return PolicyPtr(std::make_unique<RandomPolicy>(static_cast<int>(stride), static_cast<uint64_t>(seed),
                                                  static_cast<size_t>(sinks), static_cast<size_t>(recent)));
}

}  // namespace kvforge::evict::detail

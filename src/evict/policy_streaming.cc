// streaming (StreamingLLM, Xiao et al. 2023; EasyKV "recency" in encoding mode):
// keep the `sinks` lowest positions and the most recent tokens; evict the
// oldest tokens after the sinks.
#include "evict/policies.h"
#include "evict/scored_policy.h"

namespace kvforge::evict::detail {
namespace {

class StreamingPolicy final : public PolicyBase {
 public:
  StreamingPolicy(int stride, size_t sinks) : PolicyBase("streaming", stride), sinks_(sinks) {}
  bool needs_attention() const override { return false; }
  Protection protection(Phase, size_t) const override { return {sinks_, 0}; }

 protected:
  void choose(int, int, const kv::KvHead& head, size_t, size_t m, Phase, std::vector<int32_t>* victims) override {
    auto cands = candidates(head, {sinks_, 0});
    victims->insert(victims->end(), cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(m));
  }

 private:
  size_t sinks_;
};

}  // namespace

Result<PolicyPtr> make_streaming(core::Spec& params) {
  KVF_ASSIGN_OR_RETURN(int64_t stride, params.get_int("stride", 8, 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(int64_t sinks, params.get_int("sinks", 4, 0, 1 << 20));
  return PolicyPtr(std::make_unique<StreamingPolicy>(static_cast<int>(stride), static_cast<size_t>(sinks)));
}

}  // namespace kvforge::evict::detail

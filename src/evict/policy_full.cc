// full: keeps every token (the reference every other policy is compared with).
#include "evict/policies.h"
#include "evict/scored_policy.h"

namespace kvforge::evict::detail {
namespace {

class FullPolicy final : public PolicyBase {
 public:
  FullPolicy() : PolicyBase("full", 0) {}
  bool needs_attention() const override { return false; }
  bool unbounded() const override { return true; }
  Protection protection(Phase, size_t) const override { return {}; }
  // Never evicts, whatever `keep` is.
  Status select_victims(int, int, const kv::KvHead&, size_t, Phase, std::vector<int32_t>*) override {
    return Status::OK();
  }

 protected:
  void choose(int, int, const kv::KvHead&, size_t, size_t, Phase, std::vector<int32_t>*) override {}
};

}  // namespace

Result<PolicyPtr> make_full(core::Spec&) {
  return PolicyPtr(std::make_unique<FullPolicy>());
}

}  // namespace kvforge::evict::detail

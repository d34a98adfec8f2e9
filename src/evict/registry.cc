#include "kvforge/evict/registry.h"

#include "evict/policies.h"
#include "kvforge/core/registry.h"

namespace kvforge::evict {

const char* phase_name(Phase phase) { return phase == Phase::kPrefill ? "prefill" : "decode"; }

namespace {

const core::Registry<detail::PolicyPtr>& registry() {
  static const core::Registry<detail::PolicyPtr> kPolicies(
      "policy", {
                    {.name = "full", .make = detail::make_full},
                    {.name = "random", .make = detail::make_random},
                    {.name = "streaming", .make = detail::make_streaming},
                    {.name = "h2o", .make = detail::make_h2o},
                    {.name = "scissorhands", .make = detail::make_scissorhands},
                    {.name = "tova", .make = detail::make_tova},
                    {.name = "snapkv", .make = detail::make_snapkv},
                    {.name = "roco", .make = detail::make_roco},
                });
  return kPolicies;
}

}  // namespace

const std::vector<std::string>& policy_names() {
  static const std::vector<std::string> kNames = registry().names();
  return kNames;
}

Result<std::unique_ptr<Policy>> make_policy(const std::string& description) { return registry().make(description); }

}  // namespace kvforge::evict

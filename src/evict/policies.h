// Private to kvf_evict: the policy factories the registry calls. Each reads its
// parameters from a core::Spec; the registry rejects keys no factory read.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kvforge/core/spec.h"
#include "kvforge/evict/policy.h"

namespace kvforge::evict::detail {

using PolicyPtr = std::unique_ptr<Policy>;

Result<PolicyPtr> make_full(core::Spec& params);
Result<PolicyPtr> make_random(core::Spec& params);
Result<PolicyPtr> make_streaming(core::Spec& params);
Result<PolicyPtr> make_h2o(core::Spec& params);
Result<PolicyPtr> make_scissorhands(core::Spec& params);
Result<PolicyPtr> make_tova(core::Spec& params);
Result<PolicyPtr> make_snapkv(core::Spec& params);
Result<PolicyPtr> make_roco(core::Spec& params);

}  // namespace kvforge::evict::detail

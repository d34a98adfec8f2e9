// Private to kvf_evict: the policy factories the registry calls, and the
// key=value reader they parse their parameters with.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kvforge/evict/policy.h"

namespace kvforge::evict::detail {

// Parameters of "NAME:key=value,...". Each getter marks its key as known;
// finish() then rejects any key no getter asked for (InvalidArgument listing
// the policy's keys). Bad values give InvalidArgument naming key and value.
class PolicyParams {
 public:
  PolicyParams(std::string policy, std::map<std::string, std::string> values)
      : policy_(std::move(policy)), values_(std::move(values)) {}

  Result<int64_t> get_int(const std::string& key, int64_t def, int64_t min, int64_t max);
  Result<double> get_double(const std::string& key, double def, double min, double max);
  Result<std::string> get_choice(const std::string& key, const std::string& def,
                                 const std::vector<std::string>& choices);
  Status finish() const;

 private:
  std::string policy_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> known_;  // in the order the getters ran
};

using PolicyPtr = std::unique_ptr<Policy>;

Result<PolicyPtr> make_full(PolicyParams& params);
Result<PolicyPtr> make_random(PolicyParams& params);
Result<PolicyPtr> make_streaming(PolicyParams& params);
Result<PolicyPtr> make_h2o(PolicyParams& params);
Result<PolicyPtr> make_scissorhands(PolicyParams& params);
Result<PolicyPtr> make_tova(PolicyParams& params);
Result<PolicyPtr> make_snapkv(PolicyParams& params);
Result<PolicyPtr> make_roco(PolicyParams& params);

}  // namespace kvforge::evict::detail

// Builds eviction policies from descriptions: "NAME" or "NAME:key=value,key=value",
// e.g. "roco", "roco:stride=8", "streaming:sinks=4", "snapkv:window=32,kernel=5",
// "random:seed=3". Unknown names or keys give InvalidArgument listing the valid ones.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kvforge/evict/policy.h"

namespace kvforge::evict {

// Every policy name, in a stable order: full, random, streaming, h2o,
// scissorhands, tova, snapkv, roco.
const std::vector<std::string>& policy_names();

Result<std::unique_ptr<Policy>> make_policy(const std::string& description);

}  // namespace kvforge::evict

#include "kvforge/store/registry.h"

#include "kvforge/core/registry.h"
#include "store/backends.h"

namespace kvforge::store {

namespace {

using BackendPtr = std::unique_ptr<Backend>;
using Schemes = core::Registry<BackendPtr, const StoreUrl&, core::Env*>;

const Schemes& registry() {
  static const Schemes kSchemes("store", {
                                             {.name = "file", .make = open_file_backend},
                                             {.name = "mem", .make = open_mem_backend},
                                             {.name = "redis", .make = open_redis_backend},
                                         });
  return kSchemes;
}

}  // namespace

std::vector<std::string> backend_schemes() { return registry().names(); }

Result<std::unique_ptr<Backend>> open_backend(std::string_view url, core::Env* env) {
  KVF_ASSIGN_OR_RETURN(const StoreUrl parsed, parse_store_url(url));
  KVF_ASSIGN_OR_RETURN(core::Spec params, core::Spec::from_pairs(url, "store", parsed.scheme, parsed.params));
  return registry().make(params, parsed, env);
}

}  // namespace kvforge::store

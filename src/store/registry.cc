#include "kvforge/store/registry.h"

#include "store/backends.h"

namespace kvforge::store {

namespace {
struct Scheme {
  const char* name;
  Result<std::unique_ptr<Backend>> (*open)(const StoreUrl&, core::Env*);
};
constexpr Scheme kSchemes[] = {
    {"file", open_file_backend},
    {"mem", open_mem_backend},
    {"redis", open_redis_backend},
};
}  // namespace

std::vector<std::string> backend_schemes() {
  std::vector<std::string> out;
  for (const Scheme& s : kSchemes) out.emplace_back(s.name);
  return out;
}

Result<std::unique_ptr<Backend>> open_backend(std::string_view url, core::Env* env) {
  KVF_ASSIGN_OR_RETURN(const StoreUrl parsed, parse_store_url(url));
  for (const Scheme& s : kSchemes) {
    if (parsed.scheme == s.name) return s.open(parsed, env);
  }
  std::string valid;
  for (const Scheme& s : kSchemes) valid += (valid.empty() ? "" : ", ") + std::string(s.name);
  return Status::InvalidArgument("store: unknown scheme '" + parsed.scheme + "' in URL '" + std::string(url) +
                                 "' (valid: " + valid + ")");
}

}  // namespace kvforge::store

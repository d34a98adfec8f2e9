#include "kvforge/evict/registry.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "evict/policies.h"

namespace kvforge::evict {

const char* phase_name(Phase phase) { return phase == Phase::kPrefill ? "prefill" : "decode"; }

namespace detail {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
}

Status bad_value(const std::string& policy, const std::string& key, const std::string& value,
                 const std::string& want) {
  return Status::InvalidArgument("policy " + policy + ": " + key + "=" + value + " is not " + want);
}

}  // namespace

Result<int64_t> PolicyParams::get_int(const std::string& key, int64_t def, int64_t min, int64_t max) {
  known_.push_back(key);
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  const std::string& text = it->second;
  const std::string want = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || errno != 0 || *end != '\0' || v < min || v > max) return bad_value(policy_, key, text, want);
  return static_cast<int64_t>(v);
}

Result<double> PolicyParams::get_double(const std::string& key, double def, double min, double max) {
  known_.push_back(key);
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  const std::string& text = it->second;
  const std::string want = "a number in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || errno != 0 || *end != '\0' || !std::isfinite(v) || v < min || v > max) {
    return bad_value(policy_, key, text, want);
  }
  return v;
}

Result<std::string> PolicyParams::get_choice(const std::string& key, const std::string& def,
                                             const std::vector<std::string>& choices) {
  known_.push_back(key);
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  for (const auto& c : choices) {
    if (c == it->second) return c;
  }
  return bad_value(policy_, key, it->second, "one of " + join(choices));
}

Status PolicyParams::finish() const {
  for (const auto& [key, value] : values_) {
    bool found = false;
    for (const auto& k : known_) found = found || k == key;
    if (!found) {
      return Status::InvalidArgument("policy " + policy_ + " has no parameter '" + key + "'; its parameters: " +
                                     join(known_));
    }
  }
  return Status::OK();
}

}  // namespace detail

namespace {

struct Entry {
  const char* name;
  Result<detail::PolicyPtr> (*make)(detail::PolicyParams&);
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> kEntries = {
      {"full", detail::make_full},
      {"random", detail::make_random},
      {"streaming", detail::make_streaming},
      {"h2o", detail::make_h2o},
      {"scissorhands", detail::make_scissorhands},
      {"tova", detail::make_tova},
      {"snapkv", detail::make_snapkv},
      {"roco", detail::make_roco},
  };
  return kEntries;
}

}  // namespace

const std::vector<std::string>& policy_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const auto& e : entries()) names.emplace_back(e.name);
    return names;
  }();
  return kNames;
}

Result<std::unique_ptr<Policy>> make_policy(const std::string& description) {
  const size_t colon = description.find(':');
  const std::string name = description.substr(0, colon);
  const Entry* entry = nullptr;
  for (const auto& e : entries()) {
    if (name == e.name) entry = &e;
  }
  if (entry == nullptr) {
    return Status::InvalidArgument("unknown eviction policy '" + name + "'; known policies: " +
                                   detail::join(policy_names()));
  }
  std::map<std::string, std::string> values;
  if (colon != std::string::npos) {
    const std::string rest = description.substr(colon + 1);
    size_t begin = 0;
    while (begin <= rest.size()) {
      size_t end = rest.find(',', begin);
      if (end == std::string::npos) end = rest.size();
      const std::string item = rest.substr(begin, end - begin);
      const size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Status::InvalidArgument("policy " + name + ": '" + item + "' is not key=value (in '" + description +
                                       "')");
      }
      const std::string key = item.substr(0, eq);
      if (values.count(key)) return Status::InvalidArgument("policy " + name + ": '" + key + "' given twice");
      values[key] = item.substr(eq + 1);
      begin = end + 1;
    }
  }
  detail::PolicyParams params(name, std::move(values));
  return entry->make(params);
}

}  // namespace kvforge::evict

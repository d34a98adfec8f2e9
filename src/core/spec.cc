#include "kvforge/core/spec.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace kvforge::core {

std::string quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.append(1, '\'').append(text).append(1, '\'');
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::string join_names(const std::vector<std::string>& names) {
  return names.empty() ? "(none)" : join(names, ", ");
}

Status Spec::error(const std::string& why) const { return Status::InvalidArgument(what_ + " '" + text_ + "': " + why); }

Status Spec::add(std::string key, std::string value) {
  if (key.empty()) return error("'=" + value + "' has no key");
  if (values_.count(key)) return error("'" + key + "' given twice");
  values_.emplace(std::move(key), std::move(value));
  return Status::OK();
}

Result<Spec> Spec::parse(std::string_view text, std::string_view what, std::string_view positional_key) {
  Spec spec{std::string(text), std::string(what)};
  const size_t colon = text.find(':');
  spec.name_ = std::string(text.substr(0, colon));
  if (spec.name_.empty()) return spec.error("expected NAME or NAME:key=value,...");
  if (colon == std::string_view::npos) return spec;
  std::string_view rest = text.substr(colon + 1);
  if (rest.empty()) return spec.error("nothing after ':'");
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const size_t eq = item.find('=');
    if (eq != std::string_view::npos) {
      KVF_RETURN_IF_ERROR(spec.add(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1))));
    } else if (!positional_key.empty() && !item.empty()) {
      KVF_RETURN_IF_ERROR(spec.add(std::string(positional_key), std::string(item)));
    } else {
      return spec.error(quote(item) + " is not key=value");
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return spec;
}

Result<Spec> Spec::from_pairs(std::string_view text, std::string_view what, std::string name,
                              const std::vector<std::pair<std::string, std::string>>& pairs) {
  Spec spec{std::string(text), std::string(what)};
  spec.name_ = std::move(name);
  for (const auto& [key, value] : pairs) KVF_RETURN_IF_ERROR(spec.add(key, value));
  return spec;
}

const std::string* Spec::find(const std::string& key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

Result<int64_t> Spec::get_int(const std::string& key, int64_t def, int64_t min, int64_t max) {
  const std::string* text = find(key);
  if (text == nullptr) return def;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text->c_str(), &end, 10);
  if (text->empty() || errno != 0 || *end != '\0' || v < min || v > max) {
    return error(key + "=" + *text + " is not an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                 "]");
  }
  return static_cast<int64_t>(v);
}

Result<double> Spec::get_double(const std::string& key, double def, double min, double max) {
  const std::string* text = find(key);
  if (text == nullptr) return def;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text->c_str(), &end);
  if (text->empty() || errno != 0 || *end != '\0' || !std::isfinite(v) || v < min || v > max) {
    std::ostringstream msg;
    msg << key << "=" << *text << " is not a number in [" << min << ", " << max << "]";
    return error(msg.str());
  }
  return v;
}

Result<std::string> Spec::get_choice(const std::string& key, const std::string& def,
                                     const std::vector<std::string>& choices) {
  const std::string* text = find(key);
  if (text == nullptr) return def;
  if (std::find(choices.begin(), choices.end(), *text) != choices.end()) return *text;
  return error(key + "=" + *text + " is not valid (valid: " + join_names(choices) + ")");
}

Result<uint64_t> Spec::get_bytes(const std::string& key, uint64_t def) {
  const std::string* text = find(key);
  if (text == nullptr) return def;
  std::string_view v = *text;
  uint64_t unit = 1;
  if (!v.empty()) {
    const char last = static_cast<char>(v.back() | 0x20);
    if (last == 'k' || last == 'm' || last == 'g') {
      unit = last == 'k' ? (1ull << 10) : last == 'm' ? (1ull << 20) : (1ull << 30);
      v.remove_suffix(1);
    }
  }
  if (v.empty() || v.size() > 15 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return error(key + " must be a byte count such as 1048576, 512k, 64m or 2g; got '" + *text + "'");
  }
  return std::stoull(std::string(v)) * unit;
}

Result<std::string> Spec::get_string(const std::string& key, const std::string& def) {
  const std::string* text = find(key);
  return text == nullptr ? def : *text;
}

Status Spec::finish() const {
  for (const auto& [key, value] : values_) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
      return error(name_ + " has no key '" + key + "' (valid: " + join_names(known_) + ")");
    }
  }
  return Status::OK();
}

}  // namespace kvforge::core

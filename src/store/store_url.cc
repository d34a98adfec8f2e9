#include "store/store_url.h"

#include <algorithm>

namespace kvforge::store {

namespace {
Status bad_url(std::string_view url, const std::string& why) {
  return Status::InvalidArgument("store: bad URL '" + std::string(url) + "': " + why);
}
}  // namespace

Status StoreUrl::check_params(const std::vector<std::string>& known) const {
  for (const auto& [name, value] : params) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string valid;
      for (const auto& k : known) valid += (valid.empty() ? "" : ", ") + k;
      return bad_url(text, "unknown parameter '" + name + "' (valid: " + (valid.empty() ? "none" : valid) + ")");
    }
  }
  return Status::OK();
}

Result<uint64_t> StoreUrl::bytes_param(const std::string& name, uint64_t fallback) const {
  auto it = params.find(name);
  if (it == params.end()) return fallback;
  std::string_view v = it->second;
  uint64_t unit = 1;
  if (!v.empty()) {
    const char last = static_cast<char>(v.back() | 0x20);
    if (last == 'k' || last == 'm' || last == 'g') {
      unit = last == 'k' ? (1ull << 10) : last == 'm' ? (1ull << 20) : (1ull << 30);
      v.remove_suffix(1);
    }
  }
  if (v.empty() || v.size() > 15 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad_url(text, name + " must be a byte count such as 1048576, 512k, 64m or 2g; got '" + it->second + "'");
  }
  return std::stoull(std::string(v)) * unit;
}

Result<StoreUrl> parse_store_url(std::string_view url) {
  StoreUrl out;
  out.text = std::string(url);
  const size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) return bad_url(url, "expected scheme://... (e.g. file:///path)");
  out.scheme = std::string(url.substr(0, colon));
  std::string_view rest = url.substr(colon + 1);
  const size_t question = rest.find('?');
  std::string_view query = question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);
  rest = rest.substr(0, question);
  if (rest.starts_with("//")) {
    rest.remove_prefix(2);
    // file://host/path: only an empty host or localhost names this machine.
    if (out.scheme == "file") {
      const size_t slash = rest.find('/');
      const std::string_view host = rest.substr(0, slash);
      if (!host.empty() && host != "localhost") return bad_url(url, "file URLs name a local path (file:///path)");
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
  }
  out.location = std::string(rest);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) return bad_url(url, "parameter '" + std::string(pair) + "' is not key=value");
    out.params[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
  }
  return out;
}

}  // namespace kvforge::store

#include "store/store_url.h"

#include "kvforge/core/spec.h"

namespace kvforge::store {

namespace {
Status bad_url(std::string_view url, const std::string& why) {
  return Status::InvalidArgument("store '" + std::string(url) + "': " + why);  // core::Spec's style
}
}  // namespace

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
    if (eq == std::string_view::npos || eq == 0) return bad_url(url, core::quote(pair) + " is not key=value");
    out.params.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
  }
  return out;
}

}  // namespace kvforge::store

// A store URL taken apart: "scheme://location?key=value&key=value", or
// "file:PATH" for a plain path. Parameters a backend does not know are refused
// by that backend, so a typo never silently changes behaviour.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::store {

struct StoreUrl {
  std::string text;      // as given, for messages
  std::string scheme;    // "file", "mem", ...
  std::string location;  // file: the directory; redis: host:port; mem: empty
  std::map<std::string, std::string> params;

  // InvalidArgument naming the URL when a parameter is not in `known`.
  Status check_params(const std::vector<std::string>& known) const;
  // A byte count: digits with an optional k, m or g suffix (powers of 1024).
  // `fallback` when absent; InvalidArgument naming the URL when malformed.
  Result<uint64_t> bytes_param(const std::string& name, uint64_t fallback) const;
};

Result<StoreUrl> parse_store_url(std::string_view url);

}  // namespace kvforge::store

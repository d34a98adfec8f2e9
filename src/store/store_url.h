// A store URL taken apart: "scheme://location?key=value&key=value", or
// "file:PATH" for a plain path. The parameters become a core::Spec named by the
// scheme, so a parameter given twice or unknown to the backend is refused as a
// codec's or a policy's would be: a typo never silently changes behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::store {

struct StoreUrl {
  std::string text;      // as given, for messages
  std::string scheme;    // "file", "mem", ...
  std::string location;  // file: the directory; redis: host:port; mem: empty
  std::vector<std::pair<std::string, std::string>> params;  // in URL order
};

Result<StoreUrl> parse_store_url(std::string_view url);

}  // namespace kvforge::store

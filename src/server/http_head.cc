#include "server/http_head.h"

#include "kvforge/core/spec.h"

namespace kvforge::server {

std::optional<size_t> head_length(std::string_view buffer) {
  // Leading empty lines before a request line are allowed (RFC 9112 2.2), so
  // search for the terminator after the first non-empty line.
  size_t start = 0;
  while (start + 1 < buffer.size() && buffer[start] == '\r' && buffer[start + 1] == '\n') start += 2;
  const size_t end = buffer.find("\r\n\r\n", start);
  if (end == std::string_view::npos) return std::nullopt;
  return end + 4;
}

std::string head_problem(std::string_view head) {
  size_t pos = head.find("\r\n");  // past the request line (httplib parses it)
  size_t lines = 0;
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const size_t begin = pos + 2;
    const size_t end = head.find("\r\n", begin);
    const std::string_view line = head.substr(begin, end - begin);
    if (line.empty()) break;
    if (++lines > kMaxHeaderLines) return "more than " + std::to_string(kMaxHeaderLines) + " header lines";
    if (line.find(':') == std::string_view::npos) {
      return "header line without a colon: " + core::quote(line.substr(0, 64));
    }
    if (line.front() == ' ' || line.front() == '\t') return "obsolete header line folding";
    pos = end;
  }
  return {};
}

}  // namespace kvforge::server

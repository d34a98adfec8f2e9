// The gate's view of an HTTP/1.1 request head: where it ends in a buffer and
// whether its header lines are well formed, checked before a worker is spent
// on it (cpp-httplib silently skips a header line without a colon).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kvforge::server {

inline constexpr size_t kMaxHeadBytes = 64 * 1024;
inline constexpr size_t kMaxHeaderLines = 100;

// Bytes up to and including the blank line ending the head, or nullopt when
// the head is not complete in `buffer` yet.
std::optional<size_t> head_length(std::string_view buffer);

// Empty when `head` (as head_length delimits it) is acceptable; otherwise why
// not, for a 400 (a header line without a colon, too many header lines).
std::string head_problem(std::string_view head);

}  // namespace kvforge::server

// Minimal UTF-8 reading and writing for the tokenizers. Malformed input is
// never an error here: a byte that does not start a well-formed sequence is
// reported as a one-byte invalid character, so callers can keep it as a byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvforge::model::detail {

struct Utf8Char {
  uint32_t cp = 0;
  size_t len = 1;      // bytes consumed (1 for an invalid byte)
  bool valid = false;  // a well-formed, shortest-form scalar value
};

Utf8Char next_utf8(std::string_view s, size_t pos);

// UTF-8 bytes of a code point (callers pass scalar values).
std::string encode_utf8(uint32_t cp);

// Whether `s` is entirely well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

}  // namespace kvforge::model::detail

// Lower-case hex text of bytes and back: chunk keys, MACs in headers.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace kvforge::core {

std::string to_hex(std::string_view bytes);
// nullopt for an odd length or a non-hex digit (either case accepted).
std::optional<std::string> from_hex(std::string_view text);

}  // namespace kvforge::core

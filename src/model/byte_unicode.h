// GPT-2's byte-level alphabet: byte-level BPE vocabularies spell every byte as
// one printable code point, so that token text is valid UTF-8 whatever bytes it
// stands for. Printable Latin-1 bytes (! .. ~, ¡ .. ¬, ® .. ÿ) stand for
// themselves; the other 68 bytes take U+0100, U+0101, ... in byte order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvforge::model::detail {

// UTF-8 of the code point that stands for byte `b` (1 or 2 bytes).
std::string_view byte_to_unicode(uint8_t b);

// The byte code point `cp` stands for, or -1 when `cp` is not in the alphabet.
int unicode_to_byte(uint32_t cp);

// Token text (UTF-8 in the alphabet) back to the bytes it stands for. Code
// points outside the alphabet (only in malformed vocabularies) are kept as
// their UTF-8 rather than replaced, so nothing is silently lost.
std::string decode_byte_level(std::string_view text);

}  // namespace kvforge::model::detail

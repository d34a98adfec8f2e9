#include "model/byte_unicode.h"

#include <array>

#include "model/utf8.h"

namespace kvforge::model::detail {
namespace {

bool printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct Alphabet {
  std::array<std::string, 256> byte_text;
  std::array<int16_t, 512> cp_byte;  // every alphabet code point is below U+0144

  Alphabet() {
    cp_byte.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = printable(b) ? static_cast<uint32_t>(b) : 256u + static_cast<uint32_t>(next++);
      byte_text[static_cast<size_t>(b)] = encode_utf8(cp);
      cp_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

std::string_view byte_to_unicode(uint8_t b) { return alphabet().byte_text[b]; }

int unicode_to_byte(uint32_t cp) { return cp < 512 ? alphabet().cp_byte[cp] : -1; }

std::string decode_byte_level(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const Utf8Char c = next_utf8(text, i);
    const int byte = c.valid ? unicode_to_byte(c.cp) : -1;
    if (byte >= 0) {
      out += static_cast<char>(byte);
    } else {
      out.append(text.substr(i, c.len));
    }
    i += c.len;
  }
  return out;
}

}  // namespace kvforge::model::detail

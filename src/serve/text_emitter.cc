#include "serve/text_emitter.h"

#include <algorithm>

namespace kvforge::serve {

namespace {

// Bytes at the end of `s` that begin a UTF-8 character not yet complete.
size_t incomplete_utf8_tail(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= std::min<size_t>(4, n); ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t len = 1;
    if ((c & 0xE0) == 0xC0) len = 2;
    if ((c & 0xF0) == 0xE0) len = 3;
    if ((c & 0xF8) == 0xF0) len = 4;
    return len > back ? back : 0;
  }
  return 0;
}

}  // namespace

// The longest end of text_ that is the start of a stop string (it may still
// become one), or an incomplete character.
size_t TextEmitter::held_suffix() const {
  size_t hold = incomplete_utf8_tail(text_);
  for (const std::string& s : stop_) {
    if (s.empty()) continue;
    for (size_t k = std::min(s.size() - 1, text_.size()); k > hold; --k) {
      if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

std::string TextEmitter::push(int32_t token, bool* stopped) {
  *stopped = false;
  if (tok_ != nullptr) text_ += tok_->decode_piece(prev_, token);
  prev_ = token;
  size_t first = std::string::npos;
  for (const std::string& s : stop_) {
    if (!s.empty()) first = std::min(first, text_.find(s));
  }
  if (first != std::string::npos) {
    *stopped = true;
    std::string out = text_.substr(0, first);
    text_.clear();
    return out;
  }
  const size_t send = text_.size() - held_suffix();
  std::string out = text_.substr(0, send);
  text_.erase(0, send);
  return out;
}

std::string TextEmitter::flush() {
  std::string out;
  out.swap(text_);
  return out;
}

}  // namespace kvforge::serve

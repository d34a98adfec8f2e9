// A request's generated text as it may be sent: pieces are decoded token by
// token, and text is held back while it could still become a stop string or
// is an incomplete UTF-8 character, so a client never sees a stop string or
// half a character.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvforge/model/tokenizer.h"

namespace kvforge::serve {

class TextEmitter {
 public:
  TextEmitter(const model::Tokenizer* tokenizer, std::vector<std::string> stop, int32_t last_prompt_token)
      : tok_(tokenizer), stop_(std::move(stop)), prev_(last_prompt_token) {}

  // Adds a generated token; returns the text now safe to send. Sets *stopped
  // when a stop string appeared (the text ends before it).
  std::string push(int32_t token, bool* stopped);
  // What was held back, at the end of generation.
  std::string flush();

 private:
  size_t held_suffix() const;
  const model::Tokenizer* tok_;
  std::vector<std::string> stop_;
  int32_t prev_;
  std::string text_;  // generated text not yet sent
};

}  // namespace kvforge::serve

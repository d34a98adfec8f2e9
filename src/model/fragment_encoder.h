// What the Tokenizer facade asks of a vocabulary-specific tokenizer (SPM or
// BPE): ids for one run of ordinary text (special tokens are already split
// off), and the text of one token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvforge::model::detail {

class FragmentEncoder {
 public:
  virtual ~FragmentEncoder() = default;
  // Appends the ids of `text`. `starts_run`: the text begins the input or
  // follows a special token (SentencePiece adds its dummy prefix there).
  virtual void encode(std::string_view text, bool starts_run, std::vector<int32_t>* out) const = 0;
  // The bytes `token` stands for after `prev` ("" for out-of-range ids and
  // tokens without text).
  virtual std::string decode_piece(int32_t prev, int32_t token) const = 0;
};

}  // namespace kvforge::model::detail

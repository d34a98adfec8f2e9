// Special-token splitting, as llama.cpp's tokenizer_st_partition does before
// any model-specific tokenization: control, unknown and user-defined tokens
// written in the text become single tokens, longest token text first; the text
// around them is tokenized normally. Control and unknown tokens are recognised
// only when the caller opts in (parse_special); user-defined tokens always are,
// as Hugging Face's tokenizers treat added tokens.
// Thread-safety: partition() is const and may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/model/model_file.h"

namespace kvforge::model::detail {

// A run of text[offset, offset + length) when token < 0, else a special token.
struct Fragment {
  size_t offset = 0;
  size_t length = 0;
  int32_t token = -1;
};

class SpecialTokens {
 public:
  SpecialTokens() = default;
  explicit SpecialTokens(const Vocab& vocab);

  std::vector<Fragment> partition(std::string_view text, bool parse_special) const;

 private:
  struct Entry {
    int32_t id = -1;
    std::string text;
    bool needs_opt_in = false;  // control or unknown: only with parse_special
    bool lstrip = false;        // swallow whitespace before it
    bool rstrip = false;        // swallow whitespace after it
  };
  void split_on(const Entry& e, std::string_view text, const std::vector<Fragment>& in, std::vector<Fragment>* out) const;

  std::vector<Entry> entries_;  // longest text first
};

}  // namespace kvforge::model::detail

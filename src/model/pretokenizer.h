// The byte-level BPE pre-tokenizers llama.cpp knows by the name a GGUF gives in
// tokenizer.ggml.pre: each is a list of regexes applied in turn, every regex
// splitting each piece the previous ones produced (llama.cpp's
// unicode_regex_split; its regexes, run by PCRE2 — see split_regex.h).
// Thread-safety: split() is const and may run concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"
#include "model/split_regex.h"

namespace kvforge::model::detail {

class PreTokenizer {
 public:
  // NotSupported naming `name` (and the names known) when it is not one of them.
  static Result<PreTokenizer> create(const std::string& name);

  // The pieces of `text`, in order, tiling it (byte offsets into `text`).
  std::vector<TextRange> split(std::string_view text) const;

  const std::string& name() const { return name_; }
  // Llama 3: a piece that is itself a token is taken whole, without merging.
  bool ignore_merges() const { return ignore_merges_; }

  // Comma-separated names create() accepts, for messages.
  static std::string supported_names();

 private:
  std::string name_;
  bool ignore_merges_ = false;
  std::vector<SplitRegex> regexes_;
};

}  // namespace kvforge::model::detail

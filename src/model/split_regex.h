// One pre-tokenizer regex, compiled with PCRE2 (UTF + UCP: Unicode
// properties come from PCRE2's tables), splitting text the way llama.cpp's
// unicode_regex_split does: every match is a piece and so is every run of
// text between matches, so the pieces always tile the input.
//
// Patterns are written as llama.cpp writes them. One rewrite is applied:
// `\s` / `\S` become \p{White_Space} / \P{White_Space}, because llama.cpp's
// whitespace is the Unicode White_Space property, while PCRE2's UCP `\s` also
// takes U+180E. Invalid UTF-8 is accepted (PCRE2_MATCH_INVALID_UTF): no match
// includes an invalid byte, so such bytes end up in the between-match pieces.
// Thread-safety: split() is const and may run concurrently; each caller passes
// its own MatchScratch.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::model::detail {

struct TextRange {
  size_t offset = 0;
  size_t length = 0;
};

// Per-call PCRE2 match data (one ovector pair is all split() needs).
class MatchScratch {
 public:
  MatchScratch();
  ~MatchScratch();
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
  void* data() const { return data_; }

 private:
  void* data_;
};

class SplitRegex {
 public:
  // InvalidArgument naming the pattern and PCRE2's message when it does not compile.
  static Result<SplitRegex> compile(const std::string& llama_pattern);

  // Appends the pieces of text[range] to `out` (offsets into `text`).
  void split(std::string_view text, TextRange range, MatchScratch& scratch, std::vector<TextRange>* out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::shared_ptr<void> code_;  // pcre2_code_8, freed with pcre2_code_free_8
};

// llama.cpp pattern -> PCRE2 pattern (the whitespace rewrite above).
std::string to_pcre2_pattern(const std::string& llama_pattern);

}  // namespace kvforge::model::detail

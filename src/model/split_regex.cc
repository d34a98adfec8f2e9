#include "model/split_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

namespace kvforge::model::detail {
namespace {

pcre2_code* code_of(const std::shared_ptr<void>& p) { return static_cast<pcre2_code*>(p.get()); }

size_t lead_len(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

}  // namespace

MatchScratch::MatchScratch() : data_(pcre2_match_data_create(1, nullptr)) {}

MatchScratch::~MatchScratch() { pcre2_match_data_free(static_cast<pcre2_match_data*>(data_)); }

std::string to_pcre2_pattern(const std::string& llama_pattern) {
  std::string out;
  out.reserve(llama_pattern.size() + 32);
  for (size_t i = 0; i < llama_pattern.size(); ++i) {
    const char c = llama_pattern[i];
    if (c != '\\' || i + 1 == llama_pattern.size()) {
      out += c;
      continue;
    }
    const char e = llama_pattern[++i];
    if (e == 's') {
      out += "\\p{White_Space}";
    } else if (e == 'S') {
      out += "\\P{White_Space}";
    } else {
      out += '\\';
      out += e;  // copied as a pair so "\\s" (an escaped backslash, then s) stays literal
    }
  }
  return out;
}

Result<SplitRegex> SplitRegex::compile(const std::string& llama_pattern) {
  const std::string pattern = to_pcre2_pattern(llama_pattern);
  int err = 0;
  PCRE2_SIZE err_off = 0;
  // DOLLAR_ENDONLY: llama.cpp's std::regex reads `$` as end of input only.
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &err,
                                   &err_off, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return Status::InvalidArgument("pre-tokenizer regex '" + llama_pattern + "' does not compile at offset " +
                                   std::to_string(err_off) + ": " + reinterpret_cast<const char*>(msg));
  }
  // JIT is an optimisation only: without it (no JIT support) pcre2_match interprets.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  SplitRegex r;
  r.pattern_ = llama_pattern;
  r.code_ = std::shared_ptr<void>(code, [](void* p) { pcre2_code_free(static_cast<pcre2_code*>(p)); });
  return r;
}

void SplitRegex::split(std::string_view text, TextRange range, MatchScratch& scratch,
                       std::vector<TextRange>* out) const {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + range.offset);
  const size_t len = range.length;
  auto* md = static_cast<pcre2_match_data*>(scratch.data());
  size_t done = 0;  // end of the last piece emitted
  size_t pos = 0;   // where the next search starts
  while (pos < len) {
    int rc = pcre2_match(code_of(code_), subject, len, pos, 0, md, nullptr);
    // JIT stack exhaustion on a pathological input: retry in the interpreter (heap-backed).
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) rc = pcre2_match(code_of(code_), subject, len, pos, PCRE2_NO_JIT, md, nullptr);
    if (rc < 0) break;  // no (more) matches, or a resource limit: the rest is one piece
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t begin = ov[0];
    const size_t end = ov[1];
    if (end == begin) {  // no llama.cpp pattern matches empty; step over a character rather than loop
      if (begin >= len) break;
      pos = begin + std::min(lead_len(subject[begin]), len - begin);
      continue;
    }
    if (begin > done) out->push_back({range.offset + done, begin - done});
    out->push_back({range.offset + begin, end - begin});
    done = pos = end;
  }
  if (done < len) out->push_back({range.offset + done, len - done});
}

}  // namespace kvforge::model::detail

#include "model/special_tokens.h"

#include <algorithm>
#include <cctype>

namespace kvforge::model::detail {
namespace {

bool is_c_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

SpecialTokens::SpecialTokens(const Vocab& vocab) {
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    const int32_t type = vocab.types[i];
    if (type != Vocab::kControl && type != Vocab::kUserDefined && type != Vocab::kUnknown) continue;
    if (vocab.tokens[i].empty()) continue;
    Entry e;
    e.id = static_cast<int32_t>(i);
    e.text = vocab.tokens[i];
    e.needs_opt_in = type != Vocab::kUserDefined;
    entries_.push_back(std::move(e));
  }
  // llama.cpp sorts by length only (std::sort); ties keep id order here so the
  // result never depends on the sort implementation.
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.text.size() > b.text.size(); });

  // llama.cpp's per-model attributes: Phi-3 (by general.name) swallows the
  // whitespace after its special tokens, except <unk>, <s> and <|endoftext|>.
  const std::string name = lower(vocab.name);
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (Entry& e : entries_) {
      e.rstrip = e.text != "<unk>" && e.text != "<s>" && e.text != "<|endoftext|>";
    }
  }
}

std::vector<Fragment> SpecialTokens::partition(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({0, text.size(), -1});
  std::vector<Fragment> next;
  for (const Entry& e : entries_) {
    if (e.needs_opt_in && !parse_special) continue;
    if (text.find(e.text) == std::string_view::npos) continue;  // most tokens never occur
    next.clear();
    split_on(e, text, frags, &next);
    frags.swap(next);
  }
  return frags;
}

void SpecialTokens::split_on(const Entry& e, std::string_view text, const std::vector<Fragment>& in,
                             std::vector<Fragment>* out) const {
  const size_t tlen = e.text.size();
  for (const Fragment& f : in) {
    if (f.token >= 0) {
      out->push_back(f);
      continue;
    }
    size_t off = f.offset;
    size_t len = f.length;
    for (;;) {
      const size_t rel = text.substr(off, len).find(e.text);
      if (rel == std::string_view::npos) break;
      size_t left = rel;
      if (e.lstrip) {
        while (left > 0 && is_c_space(text[off + left - 1])) --left;
      }
      if (left > 0) out->push_back({off, left, -1});
      out->push_back({0, 0, e.id});
      size_t r_off = off + rel + tlen;
      size_t r_len = off + len - r_off;
      if (e.rstrip) {
        while (r_len > 0 && is_c_space(text[r_off])) ++r_off, --r_len;
      }
      off = r_off;
      len = r_len;
    }
    if (len > 0) out->push_back({off, len, -1});
  }
}

}  // namespace kvforge::model::detail

#include "model/end_of_generation.h"

#include <algorithm>

namespace kvforge::model::detail {
namespace {

// Names llama.cpp (b4748) looks for, in the order used here to pick one when a
// vocabulary has several (llama.cpp takes whichever its hash map yields first).
// DeepSeek's use U+FF5C (fullwidth bar) and U+2581, written as UTF-8 here.
const char* const kEotNames[] = {"<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
                                 "<|endoftext|>", "<EOT>",      "<｜end▁of▁sentence｜>"};
const char* const kEomNames[] = {"<|eom_id|>"};
// Fill-in-the-middle markers: made control tokens; pad, repo and file separator also end generation.
const char* const kFimPre[] = {"<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>", "<PRE>"};
const char* const kFimSuf[] = {"<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>", "<SUF>"};
const char* const kFimMid[] = {"<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>"};
const char* const kFimPad[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>"};
const char* const kFimRep[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"};
const char* const kFimSep[] = {"<|file_sep|>"};
// Every token with one of these texts ends generation.
const char* const kEogNames[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                                 "<EOT>"};

class Finder {
 public:
  Finder(Vocab* v, const PieceIndex& pieces) : v_(v), pieces_(pieces) {}

  // The first name present, made a control token; -1 when none is.
  template <size_t N>
  int32_t first(const char* const (&names)[N]) {
    for (const char* name : names) {
      const int32_t id = pieces_.find(name);
      if (id < 0) continue;
      v_->types[static_cast<size_t>(id)] = Vocab::kControl;
      return id;
    }
    return -1;
  }

  template <size_t N>
  void all(const char* const (&names)[N], std::vector<int32_t>* out) {
    for (const char* name : names) {
      const int32_t id = pieces_.find(name);
      if (id < 0) continue;
      v_->types[static_cast<size_t>(id)] = Vocab::kControl;
      out->push_back(id);
    }
  }

 private:
  Vocab* v_;
  const PieceIndex& pieces_;  // later duplicates win, as in llama.cpp's token_to_id
};

}  // namespace

std::vector<int32_t> detect_end_of_generation(Vocab* vocab, const PieceIndex& pieces) {
  Finder find(vocab, pieces);
  if (vocab->eot_id < 0) vocab->eot_id = find.first(kEotNames);
  if (vocab->eom_id < 0) vocab->eom_id = find.first(kEomNames);
  find.first(kFimPre);
  find.first(kFimSuf);
  find.first(kFimMid);
  std::vector<int32_t> eog;
  for (int32_t id : {find.first(kFimPad), find.first(kFimRep), find.first(kFimSep)}) {
    if (id >= 0) eog.push_back(id);
  }
  find.all(kEogNames, &eog);
  for (int32_t id : {vocab->eos_id, vocab->eot_id, vocab->eom_id}) {
    if (id >= 0) eog.push_back(id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  return eog;
}

}  // namespace kvforge::model::detail

// The immutable state behind a Tokenizer: the vocabulary (with llama.cpp's
// type overrides applied), its lookup tables and the model-specific encoder.
// Built once on the heap and shared by copies, so the encoder's references
// into `vocab` and `pieces` stay valid.
#pragma once

#include <memory>
#include <vector>

#include "kvforge/model/model_file.h"
#include "model/fragment_encoder.h"
#include "model/piece_index.h"
#include "model/special_tokens.h"

namespace kvforge::model::detail {

struct TokenizerCore {
  Vocab vocab;
  PieceIndex pieces;
  SpecialTokens specials;
  std::vector<int32_t> eog;  // sorted
  std::unique_ptr<FragmentEncoder> encoder;
};

}  // namespace kvforge::model::detail

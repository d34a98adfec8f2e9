// End-of-generation tokens, found as llama.cpp's vocabulary loader finds them:
// eos, eot and eom ids plus tokens recognised by their text (<|eot_id|>,
// <|im_end|>, <|endoftext|>, ...), since converters rarely write eot/eom ids.
#pragma once

#include <cstdint>
#include <vector>

#include "kvforge/model/model_file.h"
#include "model/piece_index.h"

namespace kvforge::model::detail {

// Sets vocab->eot_id / eom_id from token text when the file gave none, marks
// every token recognised by its text as a control token (so it is not matched
// in plain text and decodes to nothing, as llama.cpp overrides such types),
// and returns the sorted end-of-generation ids. `pieces` indexes vocab->tokens.
std::vector<int32_t> detect_end_of_generation(Vocab* vocab, const PieceIndex& pieces);

}  // namespace kvforge::model::detail

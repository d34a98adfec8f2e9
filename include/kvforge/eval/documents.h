// Evaluation text: one document per line (empty lines skipped), tokenized with
// BOS first and cut to a window of positions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/model/tokenizer.h"

namespace kvforge::eval {

struct DocumentOptions {
  size_t window = 0;  // max tokens per document incl. BOS; 0 = no cut
  size_t limit = 0;   // first N documents; 0 = all
  bool add_bos = true;
};

// NotFound naming the path if it cannot be read; InvalidArgument if it holds no document.
Result<std::vector<std::vector<int32_t>>> load_documents(const std::string& path, const model::Tokenizer& tokenizer,
                                                         const DocumentOptions& options);

}  // namespace kvforge::eval

// Internal to the GGUF reader: the tokenizer.ggml.* vocabulary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kvforge/core/status.h"
#include "kvforge/model/model_file.h"
#include "model/gguf_metadata.h"

namespace kvforge::model::gguf {

// Decodes the vocabulary arrays `md` located in the file image `data`; NotFound
// when the file has none.
Result<Vocab> decode_vocab(const uint8_t* data, size_t size, const Metadata& md, const std::string& path);

}  // namespace kvforge::model::gguf

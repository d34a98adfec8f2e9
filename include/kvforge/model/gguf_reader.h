// GGUF v2/v3 reader (llama architecture). Format: little-endian; header
// magic "GGUF", version, tensor count, kv count; metadata key/values; tensor
// infos (name, n_dims, dims, type, offset); data section aligned to
// general.alignment (default 32). Every count, length, shape and offset is
// checked against the bytes present before anything is allocated or read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kvforge/model/model_file.h"

namespace kvforge::model {

// Parses a GGUF image held in memory. `storage` owns `data` and is stored in
// the result so tensor views stay valid.
Result<ModelFile> parse_gguf(const uint8_t* data, size_t size, std::shared_ptr<const void> storage,
                             const std::string& path_for_errors);

Result<ModelFile> read_gguf(const std::string& path);

// Reads only the header and metadata of a GGUF file and returns its vocabulary
// (tokenizer.ggml.*). Works on vocabulary-only files that hold no tensors and
// does not check weights or model hyperparameters. NotFound when the file has
// no tokenizer.ggml.tokens array.
Result<Vocab> parse_gguf_vocab(const uint8_t* data, size_t size, const std::string& path_for_errors);
Result<Vocab> read_gguf_vocab(const std::string& path);

}  // namespace kvforge::model

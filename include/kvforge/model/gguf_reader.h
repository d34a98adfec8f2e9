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

}  // namespace kvforge::model

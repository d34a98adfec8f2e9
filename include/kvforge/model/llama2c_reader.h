// llama2.c checkpoints: the legacy header (7 x int32: dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size (negative = separate classifier), seq_len, then
// fp32 weights incl. RoPE tables) and the v1 header (magic "ak42" = 0x616b3432,
// version 1, the 7 ints, a shared-classifier byte, padded to 256 bytes, then fp32
// weights in export.py's version1 order). Also llama2.c tokenizer.bin files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kvforge/model/model_file.h"

namespace kvforge::model {

Result<ModelFile> parse_llama2c(const uint8_t* data, size_t size, std::shared_ptr<const void> storage,
                                const std::string& path_for_errors);
Result<ModelFile> read_llama2c(const std::string& path);

// tokenizer.bin: int32 max_token_length, then per token: float score, int32 len,
// len bytes. `vocab_size` comes from the model (the file does not store it);
// the file must hold exactly that many tokens.
Result<Vocab> parse_llama2c_tokenizer(const uint8_t* data, size_t size, int vocab_size,
                                      const std::string& path_for_errors);
Result<Vocab> read_llama2c_tokenizer(const std::string& path, int vocab_size);

}  // namespace kvforge::model

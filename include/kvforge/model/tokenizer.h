// SentencePiece-style BPE tokenizer (the LLaMA "SPM" vocabulary): merges the
// best-scoring adjacent pair first (leftmost on ties), falls back to <0xXX> byte
// tokens for text the vocabulary cannot spell. Matches llama2.c's encode on
// tokenizer.bin vocabularies and llama.cpp's SPM tokenizer on GGUF ones.
// Thread-safety: const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kvforge/model/model_file.h"

namespace kvforge::model {

class Tokenizer {
 public:
  // InvalidArgument when the vocabulary is empty, lacks byte tokens, or its
  // arrays disagree in length.
  static Result<Tokenizer> create(Vocab vocab);

  // Token ids for `text`; with add_bos, bos_id first. The dummy-prefix space is
  // added (when the vocab asks for it and text is non-empty) as llama2.c/llama.cpp do.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const;

  // The bytes token `token` stands for when it follows `prev` (llama2.c decode:
  // the leading space of a piece right after BOS is dropped; <0xXX> becomes the
  // byte; the space marker becomes a space). Out-of-range ids give "".
  std::string decode_piece(int32_t prev, int32_t token) const;
  // Concatenated decode_piece over a sequence (first token treated as after BOS
  // when it is not BOS itself and at_start is true).
  std::string decode(const std::vector<int32_t>& tokens) const;

  const Vocab& vocab() const { return vocab_; }
  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos() const { return vocab_.bos_id; }
  int32_t eos() const { return vocab_.eos_id; }

 private:
  Vocab vocab_;
  std::unordered_map<std::string, int32_t> piece_to_id_;
  int32_t byte_to_id_[256] = {};
};

}  // namespace kvforge::model

// SentencePiece-style BPE tokenizer (the LLaMA "SPM" vocabulary): merges the
// best-scoring adjacent pair first (leftmost on ties), falls back to <0xXX> byte
// tokens for text the vocabulary cannot spell. Matches llama2.c's encode on
// tokenizer.bin vocabularies and llama.cpp's SPM tokenizer on GGUF ones.
// Thread-safety: const methods may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/model/model_file.h"

namespace kvforge::model {

class Tokenizer {
 public:
  // InvalidArgument when the vocabulary is empty, lacks byte tokens, has a
  // special id outside it, or its arrays disagree in length (empty `types` is
  // taken as all kNormal). NotSupported for a model other than "llama" (SPM).
  static Result<Tokenizer> create(Vocab vocab);

  // Token ids for `text`; with add_bos, bos_id first. The dummy-prefix space is
  // added (when the vocab asks for it and text is non-empty) as llama2.c/llama.cpp do.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const;

  // The bytes token `token` stands for when it follows `prev` (llama2.c decode:
  // the leading space of a piece right after BOS is dropped; <0xXX> becomes the
  // byte; the space marker becomes a space). Out-of-range ids give "".
  std::string decode_piece(int32_t prev, int32_t token) const;
  // Concatenated decode_piece over a sequence. The sequence is taken to start a
  // text, so a first token that is not BOS is decoded as if it followed BOS.
  std::string decode(const std::vector<int32_t>& tokens) const;

  const Vocab& vocab() const { return vocab_; }
  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos() const { return vocab_.bos_id; }
  int32_t eos() const { return vocab_.eos_id; }

 private:
  // Open-addressing piece -> id table. Encode spends about half its time looking
  // up candidate pairs; a flat power-of-two table with stored hashes avoids
  // std::unordered_map's node chains and modulo (encode ran ~25% faster).
  struct Slot {
    uint32_t hash = 0;
    int32_t id = -1;  // -1: empty
  };

  int32_t find_piece(std::string_view piece) const;
  void insert_piece(std::string_view piece, int32_t id);

  Vocab vocab_;
  std::vector<Slot> slots_;
  size_t slot_mask_ = 0;
  int32_t byte_to_id_[256] = {};
  size_t max_piece_bytes_ = 0;  // no merge can produce a longer piece, so longer pairs skip the lookup
};

}  // namespace kvforge::model

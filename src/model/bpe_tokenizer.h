// Byte-level BPE (GPT-2, Llama 3, Qwen2, DeepSeek, Falcon, StarCoder, ...), as
// llama.cpp's llm_tokenizer_bpe does it: the pre-tokenizer named by
// tokenizer.ggml.pre splits the text into words; each word's bytes are spelled
// in GPT-2's byte alphabet (byte_unicode.h), one symbol per byte; adjacent
// symbols merge by rank, lowest rank first (leftmost on ties), until no ranked
// pair is left; each final symbol is a token.
//
// Invalid UTF-8 needs no special case (llama.cpp b4748 throws on it instead):
// the pre-tokenizer keeps invalid bytes in between-match pieces, and each byte
// is spelled like any other, so any byte string encodes and decodes back to
// itself when the vocabulary has all 256 byte characters. Some (Falcon,
// DeepSeek, StarCoder) lack those of bytes that never occur in valid UTF-8 (0xC0,
// 0xC1, 0xF5..0xFF); such a byte gets llama.cpp's fallback: the tokens that
// are single bytes of its spelling, usually none, so it is dropped.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/model/model_file.h"
#include "model/fragment_encoder.h"
#include "model/merge_ranks.h"
#include "model/piece_index.h"
#include "model/pretokenizer.h"

namespace kvforge::model::detail {

class BpeTokenizer final : public FragmentEncoder {
 public:
  // NotSupported for a missing or unknown pre-tokenizer (naming it);
  // InvalidArgument without merges. `vocab` and `pieces` must outlive the tokenizer.
  static Result<std::unique_ptr<BpeTokenizer>> create(const Vocab& vocab, const PieceIndex& pieces);

  void encode(std::string_view text, bool starts_run, std::vector<int32_t>* out) const override;
  // Normal tokens decode from the byte alphabet, user-defined ones are their
  // text, control/unknown/unused/byte tokens carry no text (llama.cpp's
  // token_to_piece without `special`). `prev` plays no part.
  std::string decode_piece(int32_t prev, int32_t token) const override;

 private:
  struct Symbol {
    int32_t prev;
    int32_t next;
    uint32_t start;  // into the spelled word
    uint32_t n;      // bytes; 0 once merged into its left neighbour
    int32_t id;      // token id of the symbol's text, -1 if none
  };
  struct Scratch;

  BpeTokenizer(const Vocab& vocab, const PieceIndex& pieces, PreTokenizer pre);
  void encode_word(std::string_view word, Scratch& s, std::vector<int32_t>* out) const;
  void merge(Scratch& s) const;

  const PieceIndex& pieces_;
  PreTokenizer pre_;
  MergeRanks ranks_;
  int32_t byte_id_[256];             // token of each byte's alphabet character, -1 if none
  std::vector<std::string> decoded_;  // decode_piece's text per token, computed once
};

}  // namespace kvforge::model::detail

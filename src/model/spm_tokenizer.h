// SentencePiece-style BPE (the LLaMA "SPM" vocabulary): merges the
// best-scoring adjacent pair first (leftmost on ties), falls back to <0xXX>
// byte tokens for text the vocabulary cannot spell. Matches llama2.c's encode
// on tokenizer.bin vocabularies and llama.cpp's llm_tokenizer_spm on GGUF ones.
#pragma once

#include <memory>

#include "kvforge/core/status.h"
#include "kvforge/model/model_file.h"
#include "model/fragment_encoder.h"
#include "model/piece_index.h"

namespace kvforge::model::detail {

class SpmTokenizer final : public FragmentEncoder {
 public:
  // InvalidArgument when the vocabulary lacks a <0xXX> byte piece. `vocab` and
  // `pieces` must outlive the tokenizer.
  static Result<std::unique_ptr<SpmTokenizer>> create(const Vocab& vocab, const PieceIndex& pieces);

  void encode(std::string_view text, bool starts_run, std::vector<int32_t>* out) const override;
  // llama2.c's decode: the leading space of a piece right after BOS is
  // dropped; <0xXX> becomes the byte; the space marker becomes a space;
  // control, unknown and unused tokens carry no text.
  std::string decode_piece(int32_t prev, int32_t token) const override;

 private:
  SpmTokenizer(const Vocab& vocab, const PieceIndex& pieces) : vocab_(vocab), pieces_(pieces) {}

  const Vocab& vocab_;
  const PieceIndex& pieces_;
  int32_t byte_to_id_[256] = {};
};

}  // namespace kvforge::model::detail

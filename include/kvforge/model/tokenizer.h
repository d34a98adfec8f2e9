// Tokenizer: text <-> token ids for a model's vocabulary, as llama.cpp
// tokenizes. Two algorithms sit behind this one class, chosen by
// Vocab::model: "llama" is SentencePiece BPE with byte fallback (LLaMA 1/2,
// Mistral, Phi-3, llama2.c's tokenizer.bin), "gpt2" is byte-level BPE with the
// pre-tokenizer named by tokenizer.ggml.pre (Llama 3, Qwen2/3, GPT-2,
// DeepSeek, Falcon, StarCoder, ...).
//
// Special tokens (control, unknown, user-defined) written in the text are
// split off first, longest first, as llama.cpp does. Control and unknown
// tokens (<|eot_id|>, <s>, ...) are recognised only with parse_special: by
// default their text is tokenized as plain text, so user input cannot inject
// them. User-defined tokens (added tokens such as Qwen3's <think>) always are.
//
// Thread-safety: const methods may be called concurrently; copies share the
// immutable tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/model/model_file.h"

namespace kvforge::model {

namespace detail {
struct TokenizerCore;
}

class Tokenizer {
 public:
  // InvalidArgument when the vocabulary is empty, its arrays disagree in length
  // (empty `types` is taken as all kNormal), a special id lies outside it, an
  // SPM vocabulary lacks byte tokens or a BPE one has no merges. NotSupported
  // for a model other than "llama"/"gpt2", and for a BPE vocabulary whose
  // pre-tokenizer is missing or unknown (the message names it).
  static Result<Tokenizer> create(Vocab vocab);

  // Token ids for `text`. With add_special, BOS first and EOS last as the
  // vocabulary asks (Vocab::add_bos / add_eos from the file: Llama 3 and
  // SentencePiece models add BOS, Qwen2 and GPT-2 add nothing) — llama.cpp's
  // add_special. SentencePiece adds its dummy-prefix space at the start of the
  // text and after each special token, as llama.cpp does. Any bytes are
  // accepted, invalid UTF-8 included (BPE spells every byte; SPM falls back
  // to byte tokens), and decode() gives them back.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special = false) const;

  // The bytes token `token` stands for when it follows `prev` (SPM: the
  // leading space of a piece right after BOS is dropped; <0xXX> becomes the
  // byte). Control, unknown and unused tokens give "" (llama.cpp's
  // token_to_piece without `special`), as do out-of-range ids. BPE pieces may
  // be partial UTF-8: a character can span tokens.
  std::string decode_piece(int32_t prev, int32_t token) const;
  // Concatenated decode_piece over a sequence. The sequence is taken to start a
  // text, so a first token that is not BOS is decoded as if it followed BOS.
  // decode(encode(text, ...)) == text byte for byte, except that SPM reads a
  // literal U+2581 in the text as a space, and control tokens parsed with
  // parse_special decode to nothing. llama.cpp's clean-up of spaces before
  // punctuation (clean_spaces) is not applied: it would break that identity.
  std::string decode(const std::vector<int32_t>& tokens) const;

  // End of generation: eos, eot (<|eot_id|>, <|im_end|>, ...), eom, and the
  // other tokens llama.cpp stops on (<|endoftext|>, <|end|>, <|fim_pad|>, ...).
  bool is_eog(int32_t token) const;
  const std::vector<int32_t>& eog_ids() const;  // sorted

  // Control, unknown or unused: a token that never stands for text.
  bool is_control(int32_t token) const;

  const Vocab& vocab() const;
  int32_t vocab_size() const { return static_cast<int32_t>(vocab().tokens.size()); }
  int32_t bos() const { return vocab().bos_id; }  // -1: none
  int32_t eos() const { return vocab().eos_id; }  // -1: none
  int32_t eot() const { return vocab().eot_id; }  // -1: none
  bool add_bos() const { return vocab().add_bos; }
  bool is_bpe() const { return vocab().model == "gpt2"; }

 private:
  Tokenizer() = default;
  std::shared_ptr<const detail::TokenizerCore> core_;
};

}  // namespace kvforge::model

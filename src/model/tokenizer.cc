// The Tokenizer facade: vocabulary checks, special-token splitting, BOS/EOS,
// and dispatch to the SentencePiece or byte-level BPE encoder.
#include "kvforge/model/tokenizer.h"

#include <algorithm>
#include <utility>

#include "model/bpe_tokenizer.h"
#include "model/end_of_generation.h"
#include "model/spm_tokenizer.h"
#include "model/tokenizer_core.h"

namespace kvforge::model {
namespace {

Status check_vocab(Vocab& vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) return Status::InvalidArgument("tokenizer: empty vocabulary");
  if (n > static_cast<size_t>(INT32_MAX)) return Status::InvalidArgument("tokenizer: vocabulary too large");
  if (vocab.model != "llama" && vocab.model != "gpt2") {
    return Status::NotSupported("tokenizer: vocabulary model '" + vocab.model +
                                "' is not supported (supported: 'llama' SentencePiece, 'gpt2' byte-level BPE)");
  }
  if (vocab.scores.empty() && vocab.model == "gpt2") vocab.scores.assign(n, 0.0f);  // BPE ranks by merges
  if (vocab.scores.size() != n) {
    return Status::InvalidArgument("tokenizer: " + std::to_string(n) + " tokens but " +
                                   std::to_string(vocab.scores.size()) + " scores");
  }
  if (vocab.types.empty()) vocab.types.assign(n, Vocab::kNormal);
  if (vocab.types.size() != n) {
    return Status::InvalidArgument("tokenizer: " + std::to_string(n) + " tokens but " +
                                   std::to_string(vocab.types.size()) + " token types");
  }
  const std::pair<const char*, int32_t> ids[] = {{"bos", vocab.bos_id}, {"eos", vocab.eos_id}, {"unk", vocab.unk_id},
                                                 {"eot", vocab.eot_id}, {"eom", vocab.eom_id}, {"pad", vocab.pad_id}};
  for (auto [name, id] : ids) {
    if (id >= static_cast<int32_t>(n) || id < -1) {
      return Status::InvalidArgument(std::string("tokenizer: ") + name + " id " + std::to_string(id) +
                                     " outside a vocabulary of " + std::to_string(n));
    }
  }
  return Status::OK();
}

}  // namespace

Result<Tokenizer> Tokenizer::create(Vocab vocab) {
  KVF_RETURN_IF_ERROR(check_vocab(vocab));
  auto core = std::make_shared<detail::TokenizerCore>();
  core->vocab = std::move(vocab);
  detail::TokenizerCore& c = *core;
  c.pieces = detail::PieceIndex(c.vocab.tokens);
  c.eog = detail::detect_end_of_generation(&c.vocab, c.pieces);
  if (c.vocab.max_token_bytes == 0) c.vocab.max_token_bytes = c.pieces.max_piece_bytes();
  c.specials = detail::SpecialTokens(c.vocab);
  if (c.vocab.model == "gpt2") {
    KVF_ASSIGN_OR_RETURN(c.encoder, detail::BpeTokenizer::create(c.vocab, c.pieces));
  } else {
    KVF_ASSIGN_OR_RETURN(c.encoder, detail::SpmTokenizer::create(c.vocab, c.pieces));
  }
  Tokenizer tok;
  tok.core_ = std::move(core);
  return tok;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Vocab& v = core_->vocab;
  std::vector<int32_t> out;
  if (add_special && v.add_bos && v.bos_id >= 0) out.push_back(v.bos_id);
  bool starts_run = true;
  for (const detail::Fragment& f : core_->specials.partition(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      starts_run = true;
    } else {
      core_->encoder->encode(text.substr(f.offset, f.length), starts_run, &out);
      starts_run = false;
    }
  }
  if (add_special && v.add_eos && v.eos_id >= 0) out.push_back(v.eos_id);
  return out;
}

std::string Tokenizer::decode_piece(int32_t prev, int32_t token) const {
  return core_->encoder->decode_piece(prev, token);
}

std::string Tokenizer::decode(const std::vector<int32_t>& tokens) const {
  std::string out;
  int32_t prev = core_->vocab.bos_id;
  for (int32_t token : tokens) {
    out += core_->encoder->decode_piece(prev, token);
    prev = token;
  }
  return out;
}

bool Tokenizer::is_eog(int32_t token) const {
  return std::binary_search(core_->eog.begin(), core_->eog.end(), token);
}

const std::vector<int32_t>& Tokenizer::eog_ids() const { return core_->eog; }

bool Tokenizer::is_control(int32_t token) const {
  if (token < 0 || token >= vocab_size()) return false;
  const int32_t type = core_->vocab.types[static_cast<size_t>(token)];
  return type == Vocab::kControl || type == Vocab::kUnknown || type == Vocab::kUnused;
}

const Vocab& Tokenizer::vocab() const { return core_->vocab; }

}  // namespace kvforge::model

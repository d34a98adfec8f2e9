#include "model/gguf_vocab.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "model/gguf_cursor.h"

namespace kvforge::model::gguf {

namespace {

// Token strings, scores and types (tokenizer.ggml.tokens / scores / token_type).
Status read_token_arrays(const uint8_t* data, size_t size, const Metadata& md, const ArrayRef& toks,
                         const std::string& path, Vocab* v) {
  const size_t n = static_cast<size_t>(toks.count);
  v->tokens.reserve(n);
  // The metadata pass has already walked these strings inside the file.
  Cursor c(data, size, path);
  KVF_RETURN_IF_ERROR(c.skip(toks.offset, "token array"));
  for (size_t i = 0; i < n; ++i) {
    std::string s;
    KVF_RETURN_IF_ERROR(c.read_string(&s, "token text", std::numeric_limits<uint64_t>::max()));
    v->max_token_bytes = std::max(v->max_token_bytes, s.size());
    v->tokens.push_back(std::move(s));
  }
  auto sc = md.arrays.find("tokenizer.ggml.scores");
  if (sc != md.arrays.end()) {
    if (sc->second.type != kF32 || sc->second.count != toks.count) {
      return Status::Corruption(path + ": 'tokenizer.ggml.scores' is " + gguf_type_name(sc->second.type) + " x " +
                                std::to_string(sc->second.count) + ", expected float32 x " + std::to_string(n));
    }
    v->scores.resize(n);
    std::memcpy(v->scores.data(), data + sc->second.offset, n * sizeof(float));
  } else {
    v->scores.assign(n, 0.0f);
  }
  auto ty = md.arrays.find("tokenizer.ggml.token_type");
  if (ty == md.arrays.end()) {
    v->types.assign(n, Vocab::kNormal);
    return Status::OK();
  }
  if ((ty->second.type != kI32 && ty->second.type != kU32) || ty->second.count != toks.count) {
    return Status::Corruption(path + ": 'tokenizer.ggml.token_type' is " + gguf_type_name(ty->second.type) + " x " +
                              std::to_string(ty->second.count) + ", expected int32 x " + std::to_string(n));
  }
  v->types.resize(n);
  std::memcpy(v->types.data(), data + ty->second.offset, n * sizeof(int32_t));
  for (size_t i = 0; i < n; ++i) {
    if (v->types[i] >= Vocab::kNormal && v->types[i] <= Vocab::kByte) continue;
    // GGUF type 0 is "undefined"; treat it like a normal piece rather than reject the vocabulary.
    if (v->types[i] != 0) {
      return Status::Corruption(path + ": token " + std::to_string(i) + " has unknown token type " +
                                std::to_string(v->types[i]));
    }
    v->types[i] = Vocab::kNormal;
  }
  return Status::OK();
}

// tokenizer.ggml.merges: BPE merges in rank order, each "left right".
Status read_merges(const uint8_t* data, size_t size, const Metadata& md, const std::string& path, Vocab* v) {
  auto it = md.arrays.find("tokenizer.ggml.merges");
  if (it == md.arrays.end()) return Status::OK();
  if (it->second.type != kString) {
    return Status::Corruption(path + ": 'tokenizer.ggml.merges' is an array of " + gguf_type_name(it->second.type) +
                              ", expected string");
  }
  const size_t n = static_cast<size_t>(it->second.count);  // bounded by the file size in the metadata pass
  v->merges.reserve(n);
  Cursor c(data, size, path);
  KVF_RETURN_IF_ERROR(c.skip(it->second.offset, "merge array"));
  for (size_t i = 0; i < n; ++i) {
    std::string s;
    KVF_RETURN_IF_ERROR(c.read_string(&s, "merge text", std::numeric_limits<uint64_t>::max()));
    v->merges.push_back(std::move(s));
  }
  return Status::OK();
}

// Special token ids. SentencePiece vocabularies keep llama.cpp's defaults
// (1, 2, 0), which must name tokens so callers can index with them; other
// models default to none (-1) rather than to llama.cpp's Falcon-era 11.
Status read_special_ids(const Metadata& md, const std::string& path, Vocab* v) {
  const bool spm = v->model == "llama";
  if (!spm) v->bos_id = v->eos_id = v->unk_id = -1;
  const size_t n = v->tokens.size();
  struct Key {
    const char* key;
    int32_t* dst;
  };
  const Key ids[] = {{"tokenizer.ggml.bos_token_id", &v->bos_id},     {"tokenizer.ggml.eos_token_id", &v->eos_id},
                     {"tokenizer.ggml.unknown_token_id", &v->unk_id}, {"tokenizer.ggml.eot_token_id", &v->eot_id},
                     {"tokenizer.ggml.eom_token_id", &v->eom_id},     {"tokenizer.ggml.padding_token_id", &v->pad_id}};
  for (const auto& [key, dst] : ids) {
    KVF_ASSIGN_OR_RETURN(std::optional<int64_t> id, get_int(md, key, path));
    if (!id && *dst < 0) continue;
    const int64_t value = id ? *id : *dst;
    if (value < 0 || static_cast<uint64_t>(value) >= n) {
      // Some converters write a padding id one past the vocabulary; nothing here
      // uses padding, so llama.cpp's "ignore a bad special id" is harmless for it.
      if (dst == &v->pad_id) {
        *dst = -1;
        continue;
      }
      return Status::Corruption(path + ": metadata key '" + key + "' = " + std::to_string(value) +
                                (id ? "" : " (default)") + " is not a token id (vocabulary has " + std::to_string(n) +
                                " tokens)");
    }
    *dst = static_cast<int32_t>(value);
  }
  return Status::OK();
}

// add_bos / add_eos / add_space_prefix with llama.cpp's per-model defaults:
// SentencePiece adds BOS and a dummy prefix; byte-level BPE adds neither,
// except the Llama 3 pre-tokenizer family, which adds BOS.
Status read_vocab_flags(const Metadata& md, const std::string& path, Vocab* v) {
  if (v->model != "llama") {
    static constexpr std::string_view kBosPre[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "tekken", "chameleon"};
    v->add_bos = std::find(std::begin(kBosPre), std::end(kBosPre), v->pre) != std::end(kBosPre);
    v->add_space_prefix = false;
  }
  KVF_ASSIGN_OR_RETURN(std::optional<bool> add_bos, get_bool(md, "tokenizer.ggml.add_bos_token", path));
  if (add_bos) v->add_bos = *add_bos;
  KVF_ASSIGN_OR_RETURN(std::optional<bool> add_eos, get_bool(md, "tokenizer.ggml.add_eos_token", path));
  if (add_eos) v->add_eos = *add_eos;
  KVF_ASSIGN_OR_RETURN(std::optional<bool> add_space, get_bool(md, "tokenizer.ggml.add_space_prefix", path));
  if (add_space) v->add_space_prefix = *add_space;
  v->space_marker = "\xE2\x96\x81";
  return Status::OK();
}

}  // namespace

Result<Vocab> decode_vocab(const uint8_t* data, size_t size, const Metadata& md, const std::string& path) {
  auto tok_it = md.arrays.find("tokenizer.ggml.tokens");
  if (tok_it == md.arrays.end()) {
    return Status::NotFound(path + ": no vocabulary (metadata key 'tokenizer.ggml.tokens' is missing)");
  }
  const ArrayRef& toks = tok_it->second;
  if (toks.type != kString) {
    return Status::Corruption(path + ": 'tokenizer.ggml.tokens' is an array of " + gguf_type_name(toks.type) +
                              ", expected string");
  }
  if (toks.count == 0 || toks.count > (uint64_t{1} << 22)) {
    return Status::Corruption(path + ": 'tokenizer.ggml.tokens' has " + std::to_string(toks.count) +
                              " tokens (must be 1.." + std::to_string(uint64_t{1} << 22) + ")");
  }
  Vocab v;
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> model, get_string(md, "tokenizer.ggml.model", path));
  if (model) v.model = *model;
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> pre, get_string(md, "tokenizer.ggml.pre", path));
  if (pre) v.pre = *pre;
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> name, get_string(md, "general.name", path));
  if (name) v.name = *name;
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> chat_template, get_string(md, "tokenizer.chat_template", path));
  if (chat_template) v.chat_template = std::move(*chat_template);
  try {
    KVF_RETURN_IF_ERROR(read_token_arrays(data, size, md, toks, path, &v));
    KVF_RETURN_IF_ERROR(read_merges(data, size, md, path, &v));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(path + ": out of memory reading a vocabulary of " + std::to_string(toks.count) +
                                     " tokens");
  }
  KVF_RETURN_IF_ERROR(read_special_ids(md, path, &v));
  KVF_RETURN_IF_ERROR(read_vocab_flags(md, path, &v));
  return v;
}

}  // namespace kvforge::model::gguf

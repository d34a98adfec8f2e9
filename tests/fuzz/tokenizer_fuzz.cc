// libFuzzer target: Tokenizer::encode/decode over arbitrary bytes, invalid
// UTF-8 included. The first input byte picks the tokenizer (byte-level BPE:
// Llama 3, Qwen2, GPT-2, DeepSeek LLM; or SentencePiece), whether control
// tokens are parsed and whether BOS/EOS are added; the rest is the text.
// Nothing may crash, and where the text is valid UTF-8, decode(encode(text))
// must give it back byte for byte: BPE vocabularies that spell all 256 bytes
// always without parse_special (DeepSeek LLM lacks some, so is checked for
// crashes only); SPM unless the text holds U+2581, which SPM reads as a space.
// The vocabularies come from ../shared/peer-tests when present (KVF_SHARED_DIR
// or the compiled-in path); otherwise small synthetic ones stand in.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/tokenizer.h"

#ifndef KVF_SHARED_DIR
#define KVF_SHARED_DIR "../shared"
#endif

namespace {

using kvforge::model::Tokenizer;
using kvforge::model::Vocab;

std::string shared_dir() {
  const char* env = std::getenv("KVF_SHARED_DIR");
  return env != nullptr ? env : KVF_SHARED_DIR;
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      n = 1, cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2, cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3, cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4, cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// GPT-2's byte alphabet, for the synthetic BPE vocabulary.
std::string byte_char(int b) {
  static int map[256];
  static bool init = false;
  if (!init) {
    int next = 256;
    for (int i = 0; i < 256; ++i) {
      const bool printable = (i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE);
      map[i] = printable ? i : next++;
    }
    init = true;
  }
  const int cp = map[b];
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

Tokenizer synthetic_bpe() {
  Vocab v;
  v.model = "gpt2";
  v.pre = "llama-bpe";
  v.bos_id = v.eos_id = v.unk_id = -1;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_char(b));
  const std::string sp = byte_char(' ');
  for (const char* m : {"t h", "th e", "a n", "i n", "e r", "o n"}) v.merges.push_back(m);
  v.merges.push_back(sp + " t");
  v.merges.push_back(sp + "t he");
  for (const char* t : {"th", "the", "an", "in", "er", "on"}) v.tokens.push_back(t);
  v.tokens.push_back(sp + "t");
  v.tokens.push_back(sp + "the");
  v.tokens.push_back("<|eot_id|>");
  v.tokens.push_back("<tool>");
  v.types.assign(v.tokens.size(), Vocab::kNormal);
  v.types[v.types.size() - 2] = Vocab::kControl;
  v.types[v.types.size() - 1] = Vocab::kUserDefined;
  v.scores.assign(v.tokens.size(), 0.0f);
  return Tokenizer::create(std::move(v)).value();
}

Tokenizer synthetic_spm() {
  Vocab v;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {Vocab::kUnknown, Vocab::kControl, Vocab::kControl};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.tokens.push_back(name);
    v.types.push_back(Vocab::kByte);
  }
  for (const char* t : {"\xE2\x96\x81", "\xE2\x96\x81t", "he", "\xE2\x96\x81the", "a", "b"}) {
    v.tokens.push_back(t);
    v.types.push_back(Vocab::kNormal);
  }
  v.scores.assign(v.tokens.size(), -1.0f);
  return Tokenizer::create(std::move(v)).value();
}

struct Candidate {
  Tokenizer tok;
  bool spm;          // reads a literal U+2581 as a space, so such texts do not come back
  bool round_trips;  // every valid UTF-8 text (bar the above) must come back
};

// Whether each of the 256 bytes encodes to a token that decodes back to it.
bool spells_every_byte(const Tokenizer& tok) {
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    if (tok.decode(tok.encode(one, false)) != one) return false;
  }
  return true;
}

std::vector<Candidate> load() {
  std::vector<Candidate> out;
  const std::string dir = shared_dir() + "/peer-tests/";
  for (const char* name : {"llama-bpe", "qwen2", "gpt-2", "deepseek-llm"}) {
    auto vocab = kvforge::model::read_gguf_vocab(dir + "tokenizers/ggml-vocab-" + name + ".gguf");
    if (!vocab.ok()) continue;
    auto tok = Tokenizer::create(std::move(vocab).value());
    if (!tok.ok()) continue;
    // A vocabulary without every byte's character drops such bytes (llama.cpp's fallback).
    const bool complete = spells_every_byte(*tok);
    out.push_back({std::move(tok).value(), false, complete});
  }
  if (out.empty()) out.push_back({synthetic_bpe(), false, true});
  auto spm_vocab = kvforge::model::read_gguf_vocab(dir + "llama-spm-tokenizer/ggml-vocab-llama-spm.gguf");
  auto spm = spm_vocab.ok() ? Tokenizer::create(std::move(spm_vocab).value())
                            : kvforge::Result<Tokenizer>(synthetic_spm());
  out.push_back({spm.ok() ? std::move(spm).value() : synthetic_spm(), true, true});
  return out;
}

const std::vector<Candidate>& candidates() {
  static const std::vector<Candidate> c = load();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& all = candidates();
  const Candidate& c = all[data[0] % all.size()];
  const bool parse_special = (data[0] & 0x80) != 0;
  // DeepSeek's `\s+$` backtracks quadratically over long whitespace runs (as
  // in llama.cpp); 16 KB keeps every input well inside the time limit.
  const size_t n = std::min<size_t>(size - 1, 16 << 10);
  const std::string text(reinterpret_cast<const char*>(data + 1), n);
  const std::vector<int32_t> ids = c.tok.encode(text, /*add_special=*/(data[0] & 0x40) != 0, parse_special);
  for (int32_t id : ids) {
    if (id < 0 || id >= c.tok.vocab_size()) std::abort();
  }
  const std::string back = c.tok.decode(ids);
  if (c.round_trips && !parse_special && valid_utf8(text)) {
    const bool spm_marker = c.spm && text.find("\xE2\x96\x81") != std::string::npos;
    if (!spm_marker && back != text) {
      std::fprintf(stderr, "round trip failed: %zu bytes in, %zu bytes back\n", text.size(), back.size());
      std::abort();
    }
  }
  // Arbitrary ids (in range or not) decode without harm.
  std::vector<int32_t> junk;
  for (size_t i = 1; i + 3 < size && junk.size() < 64; i += 4) {
    int32_t id;
    std::memcpy(&id, data + i, 4);
    junk.push_back(id);
  }
  (void)c.tok.decode(junk);
  return 0;
}

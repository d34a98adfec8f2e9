// Regexes as llama.cpp (b4748, src/llama-vocab.cpp) lists them per
// pre-tokenizer type, so they can be compared line by line. Where llama.cpp's
// own splitter departs from what the regex text says, the pattern here is
// adjusted to what llama.cpp does, and says so.
#include "model/pretokenizer.h"

#include <utility>

namespace kvforge::model::detail {
namespace {

// GPT-2's regex (llama.cpp runs it through a hand-written splitter with the same result).
constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

// Llama 3's regex with the case-insensitive group spelled out, as llama.cpp adapts it.
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Qwen2: Llama 3's with single digits.
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// DeepSeek's Latin/Greek/Cyrillic/... letter class, code point for code point.
constexpr const char* kDeepseekLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF})"
    R"(\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1})"
    R"(\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5})"
    R"(\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A})"
    R"(\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})"
    R"(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC})"
    R"(\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})"
    R"(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134})"
    R"(\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787})"
    R"(\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A})"
    R"(\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})"
    R"(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";

// llama.cpp matches regexes without \p{..} against the text with every
// non-ASCII whitespace code point replaced by U+000B, so its explicit ranges
// never match such whitespace. Two DeepSeek ranges contain some: U+3000 in
// "　-。" (written here from U+3001) and U+1680, U+2000-U+200A, ... in
// "ࠀ-一" (guarded by a lookahead).
constexpr const char* kDeepseekPunct =
    R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3001}-\x{3002}]+)";
constexpr const char* kDeepseekCjk = R"((?:(?!\s)[\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}])+)";

// BLOOM-family splitter (literal characters, no Unicode classes).
constexpr const char* kBloom = R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)";

struct PreSpec {
  std::vector<const char*> names;
  std::vector<const char*> regexes;
  bool ignore_merges = false;
};

const std::vector<PreSpec>& specs() {
  static const std::vector<PreSpec> kSpecs = {
      {{"llama3", "llama-v3", "llama-bpe", "falcon3"}, {kLlama3}, true},
      {{"dbrx", "smaug-bpe"}, {kLlama3}, false},
      {{"qwen2", "stablelm2", "megrez"}, {kQwen2}, false},
      {{"deepseek-llm"}, {"[\r\n]", kDeepseekLetters, kDeepseekPunct, R"(\s+$)", kDeepseekCjk, R"(\p{N}+)"}, false},
      {{"deepseek-coder"}, {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, R"(\p{N})"}, false},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, false},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}, {R"(\p{N})", kGpt2}, false},
      // llama.cpp has no "gpt-neox" name (NeoX-tokenizer models are written as
      // "mpt" or "olmo"); it is accepted here as the same GPT-2 regex.
      {{"gpt-2", "phi-2", "mpt", "olmo", "jais", "roberta-bpe", "gpt-neox"}, {kGpt2}, false},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {kBloom}, false},
      {{"viking"}, {kBloom, R"(\p{N})"}, false},
      {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, false},
  };
  return kSpecs;
}

}  // namespace

std::string PreTokenizer::supported_names() {
  std::string out;
  for (const PreSpec& spec : specs()) {
    for (const char* name : spec.names) out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

Result<PreTokenizer> PreTokenizer::create(const std::string& name) {
  for (const PreSpec& spec : specs()) {
    for (const char* known : spec.names) {
      if (name != known) continue;
      PreTokenizer pre;
      pre.name_ = name;
      pre.ignore_merges_ = spec.ignore_merges;
      for (const char* pattern : spec.regexes) {
        KVF_ASSIGN_OR_RETURN(SplitRegex re, SplitRegex::compile(pattern));
        pre.regexes_.push_back(std::move(re));
      }
      return pre;
    }
  }
  return Status::NotSupported("tokenizer: BPE pre-tokenizer '" + name + "' (tokenizer.ggml.pre) is not supported " +
                              "(supported: " + supported_names() + ")");
}

std::vector<TextRange> PreTokenizer::split(std::string_view text) const {
  std::vector<TextRange> pieces;
  if (text.empty()) return pieces;
  pieces.push_back({0, text.size()});
  std::vector<TextRange> next;
  MatchScratch scratch;
  for (const SplitRegex& re : regexes_) {
    next.clear();
    next.reserve(pieces.size() * 2);
    for (const TextRange& piece : pieces) re.split(text, piece, scratch, &next);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace kvforge::model::detail

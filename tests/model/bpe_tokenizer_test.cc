// Byte-level BPE and special tokens against llama.cpp: its conformance cases
// for eight vocabularies (Llama 3, Qwen2, GPT-2, DeepSeek LLM/Coder, Falcon,
// StarCoder, and Phi-3's SentencePiece), whole-file ids of a WikiText-2 head
// produced by llama.cpp, byte-exact round trips, and the special-token rules.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/tokenizer.h"
#include "model/pretokenizer.h"
#include "shared_paths.h"

namespace kvforge::model {
namespace {

using kvforge::testing::shared;
using kvforge::testing::slurp;

const std::string kDir = shared("peer-tests/tokenizers/");
const char* const kVocabs[] = {"llama-bpe",      "qwen2",  "gpt-2",     "deepseek-llm",
                               "deepseek-coder", "falcon", "starcoder", "phi-3"};

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

// The .inp format: texts separated by "\n__ggml_vocab_test__\n", the file ending with one.
std::vector<std::string> read_cases(const std::string& path) {
  const std::string s = slurp(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t pos; (pos = s.find(sep, start)) != std::string::npos; start = pos + sep.size()) {
    parts.push_back(s.substr(start, pos - start));
  }
  if (start < s.size()) parts.push_back(s.substr(start));
  return parts;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(slurp(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Vocabularies are large (Llama 3: 128K tokens, 280K merges): load each once.
const Tokenizer& tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    auto vocab = read_gguf_vocab(kDir + "ggml-vocab-" + name + ".gguf");
    EXPECT_TRUE(vocab.ok()) << vocab.status().to_string();
    auto tok = Tokenizer::create(std::move(vocab).value());
    EXPECT_TRUE(tok.ok()) << name << ": " << tok.status().to_string();
    it = cache.emplace(name, std::make_unique<Tokenizer>(std::move(tok).value())).first;
  }
  return *it->second;
}

std::string show(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      out += "\\x" + std::to_string(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

class VocabCases : public ::testing::TestWithParam<const char*> {};

TEST_P(VocabCases, EveryCaseMatchesLlamaCpp) {
  const std::string name = GetParam();
  const Tokenizer& tok = tokenizer(name);
  const auto inputs = read_cases(kDir + "ggml-vocab-" + name + ".gguf.inp");
  const auto outputs = read_lines(kDir + "ggml-vocab-" + name + ".gguf.out");
  ASSERT_EQ(inputs.size(), 46u);
  ASSERT_EQ(outputs.size(), inputs.size());
  int passed = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto got = tok.encode(inputs[i], /*add_special=*/false);
    const auto want = parse_ids(outputs[i]);
    EXPECT_EQ(got, want) << name << " case " << i << ": '" << show(inputs[i]) << "'";
    passed += got == want;
    if (tok.is_bpe()) {
      EXPECT_EQ(tok.decode(got), inputs[i]) << name << " case " << i;
    }
  }
  std::printf("%s: %d / %zu cases\n", name.c_str(), passed, inputs.size());
}

TEST_P(VocabCases, WikiHeadIdsAndRoundTrip) {
  const std::string name = GetParam();
  const Tokenizer& tok = tokenizer(name);
  const std::string text = slurp(kDir + "wiki-head.txt");
  ASSERT_EQ(text.size(), 150000u);
  const auto want = parse_ids(slurp(kDir + "wiki-head." + name + ".ids"));
  const auto t0 = std::chrono::steady_clock::now();
  const auto got = tok.encode(text, /*add_special=*/false);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(got.size(), want.size()) << name;
  size_t first_diff = got.size();
  for (size_t i = 0; i < got.size() && first_diff == got.size(); ++i) {
    if (got[i] != want[i]) first_diff = i;
  }
  EXPECT_EQ(first_diff, got.size()) << name << ": first differing id at " << first_diff;
  EXPECT_EQ(tok.decode(got), text) << name;
  EXPECT_LT(secs, 1.0) << name << ": encoding 150 KB took " << secs << " s";
  std::printf("%s: %zu ids in %.3f s\n", name.c_str(), got.size(), secs);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, VocabCases, ::testing::ValuesIn(kVocabs),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = (c == '-') ? '_' : c;
                           return n;
                         });

TEST(BpeTokenizer, AddSpecialFollowsTheVocabulary) {
  const Tokenizer& llama3 = tokenizer("llama-bpe");
  EXPECT_TRUE(llama3.add_bos());
  EXPECT_EQ(llama3.bos(), 128000);
  EXPECT_EQ(llama3.encode("Hello", true), (std::vector<int32_t>{128000, 9906}));
  EXPECT_EQ(llama3.encode("Hello", false), (std::vector<int32_t>{9906}));
  const Tokenizer& qwen = tokenizer("qwen2");
  EXPECT_FALSE(qwen.add_bos());
  EXPECT_EQ(qwen.encode("Hello", true), (std::vector<int32_t>{9707}));
}

TEST(BpeTokenizer, ControlTokensNeedParseSpecial) {
  const Tokenizer& llama3 = tokenizer("llama-bpe");
  const std::string text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
  const auto special = llama3.encode(text, false, /*parse_special=*/true);
  EXPECT_EQ(special, (std::vector<int32_t>{128006, 882, 128007, 271, 13347, 128009}));
  const auto plain = llama3.encode(text, false, /*parse_special=*/false);
  EXPECT_GT(plain.size(), special.size());
  for (int32_t id : plain) EXPECT_LT(id, 128000) << "a special token came out of plain text";
  EXPECT_EQ(llama3.decode(plain), text);
  // Control tokens decode to nothing, as llama.cpp's token_to_piece without `special`.
  EXPECT_EQ(llama3.decode(special), "user\n\nHi");

  const Tokenizer& qwen = tokenizer("qwen2");
  EXPECT_EQ(qwen.encode("<|im_start|>", false, true), (std::vector<int32_t>{151644}));
  EXPECT_NE(qwen.encode("<|im_start|>", false, false), (std::vector<int32_t>{151644}));
}

TEST(BpeTokenizer, UserDefinedTokensAreAlwaysSplitOff) {
  // Qwen3's <think> is an added, non-special token: Hugging Face and llama.cpp
  // match it in plain text too.
  const Tokenizer& qwen = tokenizer("qwen2");
  const int32_t think = 151667;
  ASSERT_EQ(qwen.vocab().tokens[think], "<think>");
  ASSERT_EQ(qwen.vocab().types[think], Vocab::kUserDefined);
  const auto ids = qwen.encode("a<think>b", false, false);
  EXPECT_EQ(ids, (std::vector<int32_t>{64, think, 65}));
  EXPECT_EQ(qwen.decode(ids), "a<think>b");
}

TEST(BpeTokenizer, EndOfGeneration) {
  const Tokenizer& llama3 = tokenizer("llama-bpe");
  EXPECT_TRUE(llama3.is_eog(128009));   // <|eot_id|>
  EXPECT_TRUE(llama3.is_eog(128001));   // <|end_of_text|> (eos)
  EXPECT_FALSE(llama3.is_eog(128000));  // <|begin_of_text|>
  EXPECT_FALSE(llama3.is_eog(128005));  // <|reserved_special_token_3|>
  EXPECT_FALSE(llama3.is_eog(9906));
  EXPECT_EQ(llama3.eot(), 128009);
  const Tokenizer& qwen = tokenizer("qwen2");
  EXPECT_TRUE(qwen.is_eog(151645));   // <|im_end|> (eos)
  EXPECT_TRUE(qwen.is_eog(151643));   // <|endoftext|>
  EXPECT_TRUE(qwen.is_eog(151662));   // <|fim_pad|>
  EXPECT_FALSE(qwen.is_eog(151644));  // <|im_start|>
  EXPECT_FALSE(qwen.is_eog(-1));
  EXPECT_EQ(qwen.eot(), 151645);
  EXPECT_TRUE(tokenizer("gpt-2").is_eog(50256));  // <|endoftext|>

  // This Llama 3.0 vocabulary has no <|eom_id|> (3.1 puts it at 128008): found by its text when present.
  Vocab v = llama3.vocab();
  ASSERT_EQ(v.tokens[128008], "<|reserved_special_token_4|>");
  v.tokens[128008] = "<|eom_id|>";
  auto with_eom = Tokenizer::create(std::move(v));
  ASSERT_TRUE(with_eom.ok());
  EXPECT_EQ(with_eom->vocab().eom_id, 128008);
  EXPECT_TRUE(with_eom->is_eog(128008));
}

// Whether every byte's character in GPT-2's alphabet is a token.
bool spells_every_byte(const Tokenizer& tok) {
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    const auto ids = tok.encode(one, false);
    if (ids.size() != 1 || tok.decode(ids) != one) return false;
  }
  return true;
}

TEST(BpeTokenizer, InvalidUtf8RoundTrips) {
  const std::vector<std::string> texts = {"\xff", "a\xC3", "\xE2\x82 x\x80\x80y", "ok \xF0\x9F\x98", std::string("\0\x01 z", 4),
                                          "\xC0\xAF\xED\xA0\x80!"};
  for (const char* name : {"llama-bpe", "qwen2", "gpt-2"}) {
    const Tokenizer& tok = tokenizer(name);
    ASSERT_TRUE(spells_every_byte(tok)) << name;
    for (const std::string& text : texts) {
      const auto ids = tok.encode(text, false);
      EXPECT_EQ(tok.decode(ids), text) << name << ": '" << show(text) << "'";
    }
  }
  // Falcon, DeepSeek and StarCoder lack characters for bytes that never occur in
  // valid UTF-8 (0xFF, ...): llama.cpp's fallback drops them or emits stray
  // byte tokens. Everything else still round-trips, and nothing crashes.
  for (const char* name : {"falcon", "deepseek-llm", "deepseek-coder", "starcoder"}) {
    const Tokenizer& tok = tokenizer(name);
    EXPECT_FALSE(spells_every_byte(tok)) << name;
    for (const std::string& text : texts) (void)tok.decode(tok.encode(text, false, true));
    EXPECT_EQ(tok.decode(tok.encode("x\xE2\x82y", false)), "x\xE2\x82y") << name;
  }
}

TEST(BpeTokenizer, UnknownPreTokenizerIsNotSupported) {
  auto vocab = read_gguf_vocab(kDir + "ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(vocab.ok());
  Vocab v = *vocab;
  v.pre = "no-such-pre";
  auto r = Tokenizer::create(v);
  ASSERT_TRUE(r.status().is_not_supported()) << r.status().to_string();
  EXPECT_NE(r.status().message().find("'no-such-pre'"), std::string::npos) << r.status().message();
  v.pre.clear();
  auto missing = Tokenizer::create(v);
  ASSERT_TRUE(missing.status().is_not_supported()) << missing.status().to_string();
  EXPECT_NE(missing.status().message().find("tokenizer.ggml.pre"), std::string::npos);
  v = *vocab;
  v.merges.clear();
  EXPECT_TRUE(Tokenizer::create(v).status().is_invalid_argument());
  v = *vocab;
  v.model = "bert";
  auto bert = Tokenizer::create(v);
  ASSERT_TRUE(bert.status().is_not_supported());
  EXPECT_NE(bert.status().message().find("'bert'"), std::string::npos);
}

TEST(BpeTokenizer, EveryNamedPreTokenizerCompiles) {
  for (const char* name : {"llama3", "llama-bpe", "dbrx", "smaug-bpe", "qwen2", "deepseek-llm", "deepseek-coder",
                           "falcon", "starcoder", "refact", "gpt-2", "mpt", "gpt-neox", "default", "bloom"}) {
    auto pre = detail::PreTokenizer::create(name);
    ASSERT_TRUE(pre.ok()) << name << ": " << pre.status().to_string();
    // The pieces tile the text.
    const std::string text = "Hello, world! 12345 \xE4\xB8\xAD\xE6\x96\x87  \n\n x's \xC3\xA9t\xC3\xA9";
    size_t at = 0;
    for (const auto& r : pre->split(text)) {
      EXPECT_EQ(r.offset, at) << name;
      EXPECT_GT(r.length, 0u) << name;
      at = r.offset + r.length;
    }
    EXPECT_EQ(at, text.size()) << name;
  }
}

TEST(BpeTokenizer, VocabularyMetadata) {
  const Vocab& v = tokenizer("llama-bpe").vocab();
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre, "llama-bpe");
  EXPECT_EQ(v.merges.size(), 280147u);
  EXPECT_EQ(v.merges[0], "\xC4\xA0 \xC4\xA0");  // "Ġ Ġ"
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  const Vocab& q = tokenizer("qwen2").vocab();
  EXPECT_EQ(q.bos_id, -1);  // the file names none
  EXPECT_EQ(q.eos_id, 151645);
  EXPECT_FALSE(q.add_bos);
  const Vocab& d = tokenizer("deepseek-llm").vocab();
  EXPECT_EQ(d.pad_id, 100001);
  EXPECT_TRUE(d.add_bos);
}

}  // namespace
}  // namespace kvforge::model

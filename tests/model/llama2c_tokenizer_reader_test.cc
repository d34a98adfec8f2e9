// The llama2.c tokenizer.bin reader: tok512, hand-made files, and the
// truncated, mis-sized and missing ones it must refuse.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kvforge/model/llama2c_reader.h"
#include "kvforge/model/tokenizer.h"

namespace kvforge::model {
namespace {

const std::string kShared = KVF_SHARED_DIR;
const std::string kTok512 = kShared + "/models/stories260K/tok512.bin";

TEST(Llama2cTokenizerReader, ReadsTok512) {
  auto vocab = read_llama2c_tokenizer(kTok512, 512);
  ASSERT_TRUE(vocab.ok()) << vocab.status().to_string();
  EXPECT_EQ(vocab->tokens.size(), 512u);
  EXPECT_EQ(vocab->scores.size(), 512u);
  EXPECT_EQ(vocab->types.size(), 512u);
  EXPECT_EQ(vocab->space_marker, " ");
  EXPECT_EQ(vocab->bos_id, 1);
  EXPECT_EQ(vocab->eos_id, 2);
  EXPECT_EQ(vocab->unk_id, 0);
  EXPECT_TRUE(vocab->add_space_prefix);
  EXPECT_EQ(vocab->tokens[3], "<0x00>");
  EXPECT_EQ(vocab->types[0], Vocab::kUnknown);
  EXPECT_EQ(vocab->types[1], Vocab::kControl);
  EXPECT_EQ(vocab->types[2], Vocab::kControl);
  EXPECT_EQ(vocab->types[3], Vocab::kByte);
  EXPECT_EQ(vocab->types[258], Vocab::kByte);
  EXPECT_EQ(vocab->types[259], Vocab::kNormal);
  EXPECT_EQ(vocab->tokens[259], " t");
  EXPECT_EQ(vocab->max_token_bytes, 7u);
}

// Builds a tokenizer.bin image.
struct TokFile {
  std::vector<uint8_t> bytes;
  explicit TokFile(int32_t max_len) { put(&max_len, 4); }
  void put(const void* p, size_t n) {
    // resize + memcpy rather than insert: GCC 12 misreports insert here (-Wstringop-overflow).
    const size_t at = bytes.size();
    bytes.resize(at + n);
    if (n != 0) std::memcpy(bytes.data() + at, p, n);
  }
  TokFile& token(const std::string& text, float score = 0.0f) { return raw(text, static_cast<int32_t>(text.size()), score); }
  TokFile& raw(const std::string& text, int32_t len, float score = 0.0f) {
    put(&score, 4);
    put(&len, 4);
    put(text.data(), text.size());
    return *this;
  }
};

TEST(Llama2cTokenizerReader, ParsesSmallFile) {
  TokFile f(6);
  f.token("<unk>").token("<s>").token("</s>").token("<0x41>").token(" ab", -1.5f);
  auto vocab = parse_llama2c_tokenizer(f.bytes.data(), f.bytes.size(), 5, "mem");
  ASSERT_TRUE(vocab.ok()) << vocab.status().to_string();
  EXPECT_EQ(vocab->tokens[4], " ab");
  EXPECT_FLOAT_EQ(vocab->scores[4], -1.5f);
  EXPECT_EQ(vocab->types[3], Vocab::kByte);
  EXPECT_EQ(vocab->types[4], Vocab::kNormal);
  EXPECT_EQ(vocab->max_token_bytes, 6u);
}

TEST(Llama2cTokenizerReader, RejectsTruncatedFiles) {
  TokFile f(8);
  f.token("a").token("bc").token("def");
  const auto& b = f.bytes;
  // Cut inside the header, inside token 2's score/len, and inside token 2's text.
  auto r0 = parse_llama2c_tokenizer(b.data(), 2, 3, "t.bin");
  EXPECT_TRUE(r0.status().is_corruption()) << r0.status().to_string();
  const size_t token2 = 4 + (8 + 1) + (8 + 2);
  for (size_t cut : {token2 + 3, token2 + 8 + 1}) {
    auto r = parse_llama2c_tokenizer(b.data(), cut, 3, "t.bin");
    ASSERT_TRUE(r.status().is_corruption()) << cut << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find("token 2"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("t.bin"), std::string::npos) << r.status().message();
  }
}

TEST(Llama2cTokenizerReader, RejectsBadLengths) {
  {
    TokFile f(8);
    f.token("a").raw("", -4);
    auto r = parse_llama2c_tokenizer(f.bytes.data(), f.bytes.size(), 2, "t.bin");
    ASSERT_TRUE(r.status().is_corruption()) << r.status().to_string();
    EXPECT_NE(r.status().message().find("token 1 has negative length -4"), std::string::npos) << r.status().message();
  }
  {
    TokFile f(8);
    f.token("a").raw("xxxxxxxxxxxx", 12);
    auto r = parse_llama2c_tokenizer(f.bytes.data(), f.bytes.size(), 2, "t.bin");
    ASSERT_TRUE(r.status().is_corruption()) << r.status().to_string();
    EXPECT_NE(r.status().message().find("token 1 length 12 exceeds max_token_length 8"), std::string::npos)
        << r.status().message();
  }
  {
    TokFile f(8);
    f.raw("", 0x7fffffff);
    auto r = parse_llama2c_tokenizer(f.bytes.data(), f.bytes.size(), 1, "t.bin");
    EXPECT_TRUE(r.status().is_corruption()) << r.status().to_string();
  }
  {
    TokFile f(-1);
    f.token("a");
    auto r = parse_llama2c_tokenizer(f.bytes.data(), f.bytes.size(), 1, "t.bin");
    ASSERT_TRUE(r.status().is_corruption()) << r.status().to_string();
    EXPECT_NE(r.status().message().find("max_token_length"), std::string::npos) << r.status().message();
  }
}

TEST(Llama2cTokenizerReader, RejectsVocabCountMismatch) {
  TokFile f(4);
  f.token("a").token("b").token("c");
  auto fewer = parse_llama2c_tokenizer(f.bytes.data(), f.bytes.size(), 4, "t.bin");
  ASSERT_TRUE(fewer.status().is_invalid_argument()) << fewer.status().to_string();
  EXPECT_NE(fewer.status().message().find("tokenizer has 3 tokens but the model's vocabulary is 4"), std::string::npos)
      << fewer.status().message();
  auto more = parse_llama2c_tokenizer(f.bytes.data(), f.bytes.size(), 2, "t.bin");
  ASSERT_TRUE(more.status().is_invalid_argument()) << more.status().to_string();
  EXPECT_NE(more.status().message().find("tokenizer has 3 tokens but the model's vocabulary is 2"), std::string::npos)
      << more.status().message();
  auto bad = parse_llama2c_tokenizer(f.bytes.data(), f.bytes.size(), 0, "t.bin");
  EXPECT_TRUE(bad.status().is_invalid_argument());
  // The real file paired with a model of the wrong size.
  auto real = read_llama2c_tokenizer(kTok512, 32000);
  ASSERT_TRUE(real.status().is_invalid_argument()) << real.status().to_string();
  EXPECT_NE(real.status().message().find("512"), std::string::npos);
  EXPECT_NE(real.status().message().find("32000"), std::string::npos);
}

TEST(Llama2cTokenizerReader, MissingFileIsIOError) {
  auto r = read_llama2c_tokenizer(kShared + "/no/such/tokenizer.bin", 512);
  ASSERT_TRUE(r.status().is_io_error()) << r.status().to_string();
  EXPECT_NE(r.status().message().find("no/such/tokenizer.bin"), std::string::npos);
}

}  // namespace
}  // namespace kvforge::model

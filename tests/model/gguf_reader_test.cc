// GGUF reader: the shared stories260K conversions (own, upstream ggml-org,
// llama.cpp-quantized), the vocabulary-only llama SPM file, and hand-made files that must parse
// (the broken ones are in gguf_reader_corruption_test.cc).
#include "kvforge/model/gguf_reader.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "kvforge/model/llama2c_reader.h"
#include "model/gguf_builder.h"

namespace kvforge::model {
namespace {

namespace fs = std::filesystem;
using core::TensorType;

const std::string kModels = std::string(KVF_SHARED_DIR) + "/models/stories260K/";
const std::string kSpmVocab = std::string(KVF_SHARED_DIR) + "/peer-tests/llama-spm-tokenizer/ggml-vocab-llama-spm.gguf";

using kvforge::testing::GgufBuilder;
using kvforge::testing::parse_bytes;
using kvforge::testing::put;
using kvforge::testing::put_str;
using kvforge::testing::TempDir;
using kvforge::testing::tiny_model;

// ---------------------------------------------------------------------------
// Real files.

struct RealFile {
  const char* file;
  bool tied;
  int context;
};

void expect_stories_config(const ModelFile& m, const RealFile& f) {
  const ModelConfig& c = m.config;
  EXPECT_EQ(m.format, "gguf v3");
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.context_length, f.context);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_EQ(c.tied_output, f.tied);
  EXPECT_EQ(m.find("output.weight") == nullptr, f.tied);
  EXPECT_EQ(m.tensors.size(), f.tied ? 47u : 48u);
  ASSERT_TRUE(m.vocab.has_value());
  const Vocab& v = *m.vocab;
  EXPECT_EQ(v.model, "llama");
  ASSERT_EQ(v.tokens.size(), 512u);
  EXPECT_EQ(v.scores.size(), 512u);
  EXPECT_EQ(v.types.size(), 512u);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.types[3], Vocab::kByte);  // <0x00>
  EXPECT_EQ(v.space_marker, "\xE2\x96\x81");
  for (const TensorRef& t : m.tensors) {
    ASSERT_NE(t.data, nullptr) << t.name;
    EXPECT_GE(t.data, static_cast<const uint8_t*>(m.storage.get())) << t.name;
    auto row = core::tensor_row_bytes(t.type, t.cols());
    ASSERT_TRUE(row.ok()) << t.name;
    EXPECT_EQ(t.nbytes, *row * static_cast<size_t>(t.rows())) << t.name;
  }
}

std::map<std::string, int> type_counts(const ModelFile& m) {
  std::map<std::string, int> counts;
  for (const TensorRef& t : m.tensors) ++counts[std::string(core::tensor_type_name(t.type))];
  return counts;
}

std::vector<uint8_t> tensor_bytes(const ModelFile& m, const std::string& name) {
  const TensorRef* t = m.find(name);
  if (t == nullptr) return {};
  return std::vector<uint8_t>(t->data, t->data + t->nbytes);
}

TEST(gguf_reader, OwnF32) {
  auto m = read_model_file(kModels + "stories260K-f32.gguf");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  expect_stories_config(*m, {"f32", true, 512});
  EXPECT_EQ(type_counts(*m), (std::map<std::string, int>{{"F32", 47}}));
  const TensorRef* q = m->find("blk.2.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dims, (std::vector<int64_t>{64, 64}));
  const TensorRef* down = m->find("blk.4.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->dims, (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(m->find("blk.0.attn_k.weight")->dims, (std::vector<int64_t>{64, 32}));
  // Scalar metadata is kept for listings; arrays are summarised.
  ASSERT_TRUE(m->metadata.count("general.architecture"));
  EXPECT_EQ(std::get<std::string>(m->metadata.at("general.architecture")), "llama");
}

TEST(gguf_reader, OwnF16) {
  auto m = read_gguf(kModels + "stories260K-f16.gguf");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  expect_stories_config(*m, {"f16", true, 512});
  EXPECT_EQ(type_counts(*m), (std::map<std::string, int>{{"F16", 36}, {"F32", 11}}));
  EXPECT_EQ(m->find("output_norm.weight")->type, TensorType::kF32);
  EXPECT_EQ(m->find("blk.0.attn_q.weight")->type, TensorType::kF16);
}

TEST(gguf_reader, OwnQ8_0) {
  auto m = read_gguf(kModels + "stories260K-q8_0.gguf");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  expect_stories_config(*m, {"q8_0", true, 512});
  for (const TensorRef& t : m->tensors) {
    const bool norm = t.dims.size() == 1;
    const bool down = t.name.find("ffn_down") != std::string::npos;
    EXPECT_EQ(t.type, norm || down ? TensorType::kF32 : TensorType::kQ8_0) << t.name;
  }
}

TEST(gguf_reader, UpstreamGgmlOrg) {
  auto m = read_model_file(kModels + "stories260K-ggml-org.gguf");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  expect_stories_config(*m, {"ggml-org", false, 2048});
  EXPECT_EQ(type_counts(*m), (std::map<std::string, int>{{"F32", 48}}));
  EXPECT_EQ(m->metadata.count("llama.rope.freq_base"), 0u);  // default applied
  EXPECT_EQ(tensor_bytes(*m, "output.weight"), tensor_bytes(*m, "token_embd.weight"));
  // Data section at 14176 (README): the first tensor (token_embd) starts there.
  EXPECT_EQ(m->find("token_embd.weight")->data - static_cast<const uint8_t*>(m->storage.get()), 14176);
}

TEST(gguf_reader, LlamaCppQ8_0) {
  auto m = read_gguf(kModels + "stories260K-llamacpp-q8_0.gguf");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  expect_stories_config(*m, {"llamacpp-q8_0", false, 128});
  EXPECT_EQ(type_counts(*m), (std::map<std::string, int>{{"Q8_0", 32}, {"F16", 5}, {"F32", 11}}));
  EXPECT_EQ(m->find("blk.3.ffn_down.weight")->type, TensorType::kF16);
  ASSERT_TRUE(m->metadata.count("general.file_type"));
  EXPECT_EQ(std::get<uint64_t>(m->metadata.at("general.file_type")), 18u);
}

TEST(gguf_reader, SameVocabularyEverywhere) {
  auto a = read_gguf(kModels + "stories260K-f32.gguf");
  auto b = read_gguf(kModels + "stories260K-ggml-org.gguf");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->vocab->tokens, b->vocab->tokens);
  EXPECT_EQ(a->vocab->scores, b->vocab->scores);
  EXPECT_EQ(a->vocab->types, b->vocab->types);
  auto v = read_gguf_vocab(kModels + "stories260K-q8_0.gguf");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->tokens, a->vocab->tokens);
}

TEST(gguf_reader, SharedTensorsIdenticalAcrossConversions) {
  auto own = read_gguf(kModels + "stories260K-f32.gguf");
  auto up = read_gguf(kModels + "stories260K-ggml-org.gguf");
  ASSERT_TRUE(own.ok() && up.ok());
  for (const TensorRef& t : own->tensors) {
    EXPECT_EQ(tensor_bytes(*own, t.name), tensor_bytes(*up, t.name)) << t.name;
  }
}

TEST(gguf_reader, VocabOnlySpmFile) {
  auto v = read_gguf_vocab(kSpmVocab);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->model, "llama");
  ASSERT_EQ(v->tokens.size(), 32000u);
  EXPECT_EQ(v->scores.size(), 32000u);
  EXPECT_EQ(v->types.size(), 32000u);
  EXPECT_EQ(v->tokens[1], "<s>");
  EXPECT_EQ(v->tokens[2], "</s>");
  EXPECT_EQ(v->tokens[3], "<0x00>");
  EXPECT_EQ(v->types[3], Vocab::kByte);
  EXPECT_EQ(v->bos_id, 1);
  EXPECT_EQ(v->eos_id, 2);
  EXPECT_GT(v->max_token_bytes, 4u);
  // The file holds no weights, so it is not a model.
  auto m = read_gguf(kSpmVocab);
  EXPECT_FALSE(m.ok());
}

TEST(gguf_reader, MissingFileIsNotFound) {
  auto m = read_model_file("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().is_not_found());
  EXPECT_NE(m.status().message().find("/nonexistent/dir/model.gguf"), std::string::npos);
  auto v = read_gguf_vocab("/nonexistent/vocab.gguf");
  EXPECT_TRUE(v.status().is_not_found());
}

// ---------------------------------------------------------------------------
// Hand-made files.

TEST(gguf_reader, TinyModelParses) {
  GgufBuilder b = tiny_model(2);
  b.u32("general.alignment", 64);
  b.alignment = 64;
  b.f32("llama.rope.freq_base", 500000.0f);
  b.boolean("tokenizer.ggml.add_bos_token", false);
  // Nested array and every scalar type are skipped or kept without trouble.
  b.key("test.nested", 9);
  put<uint32_t>(&b.kv, 9);
  put<uint64_t>(&b.kv, 2);
  for (int i = 0; i < 2; ++i) {
    put<uint32_t>(&b.kv, 8);
    put<uint64_t>(&b.kv, 1);
    put_str(&b.kv, "x");
  }
  b.key("test.u8", 0), put<uint8_t>(&b.kv, 200);
  b.key("test.i8", 1), put<int8_t>(&b.kv, -3);
  b.key("test.u16", 2), put<uint16_t>(&b.kv, 60000);
  b.key("test.i16", 3), put<int16_t>(&b.kv, -300);
  b.key("test.u64", 10), put<uint64_t>(&b.kv, 1ull << 40);
  b.key("test.i64", 11), put<int64_t>(&b.kv, -(1ll << 40));
  b.key("test.f64", 12), put<double>(&b.kv, 2.5);
  const auto bytes = b.build();
  auto m = parse_bytes(bytes);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->config.n_layers, 2);
  EXPECT_EQ(m->config.head_dim, 4);
  EXPECT_FLOAT_EQ(m->config.rope_theta, 500000.0f);
  EXPECT_FLOAT_EQ(m->config.rms_eps, 1e-6f);
  EXPECT_TRUE(m->config.tied_output);
  EXPECT_FALSE(m->vocab->add_bos);
  EXPECT_EQ(m->vocab->tokens[3], "\xE2\x96\x81hi");
  EXPECT_EQ(m->vocab->scores[3], -1.5f);
  EXPECT_EQ(m->vocab->max_token_bytes, 5u);
  EXPECT_EQ(std::get<uint64_t>(m->metadata.at("test.u8")), 200u);
  EXPECT_EQ(std::get<int64_t>(m->metadata.at("test.i16")), -300);
  EXPECT_EQ(std::get<int64_t>(m->metadata.at("test.i64")), -(1ll << 40));
  EXPECT_EQ(std::get<double>(m->metadata.at("test.f64")), 2.5);
  // Tensor views land at aligned offsets and hold the bytes written for them.
  const TensorRef* t = m->find("blk.1.ffn_up.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ((t->data - bytes.data()) % 64, 0);
  EXPECT_EQ(t->nbytes, 8u * 16u * 4u);
  EXPECT_EQ(m->find("token_embd.weight")->data[5], 5);
  // Version 2 is read the same way.
  b.version = 2;
  auto m2 = parse_bytes(b.build());
  ASSERT_TRUE(m2.ok()) << m2.status().to_string();
  EXPECT_EQ(m2->format, "gguf v2");
}

TEST(gguf_reader, EmptyFile) {
  TempDir dir;
  const std::string path = dir.write("empty.gguf", {});
  auto m = read_model_file(path);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("empty"), std::string::npos);
  auto g = read_gguf(path);
  EXPECT_NE(g.status().message().find("empty"), std::string::npos);
  auto v = read_gguf_vocab(path);
  EXPECT_NE(v.status().message().find("empty"), std::string::npos);
}

TEST(gguf_reader, VocabOnlyHandMade) {
  GgufBuilder b;
  b.str("tokenizer.ggml.model", "llama");
  b.str_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
  b.boolean("tokenizer.ggml.add_space_prefix", false);
  const auto bytes = b.build();
  auto v = parse_gguf_vocab(bytes.data(), bytes.size(), "v.gguf");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->tokens.size(), 3u);
  EXPECT_EQ(v->scores, std::vector<float>(3, 0.0f));
  EXPECT_EQ(v->types, std::vector<int32_t>(3, Vocab::kNormal));
  EXPECT_FALSE(v->add_space_prefix);
  GgufBuilder one;  // default eos id 2 does not exist in a one-token vocabulary
  one.str_array("tokenizer.ggml.tokens", {"<unk>"});
  one.u32("tokenizer.ggml.bos_token_id", 0);
  const auto ob = one.build();
  auto ov = parse_gguf_vocab(ob.data(), ob.size(), "one.gguf");
  ASSERT_FALSE(ov.ok());
  EXPECT_NE(ov.status().message().find("tokenizer.ggml.eos_token_id' = 2 (default)"), std::string::npos)
      << ov.status().message();
  GgufBuilder none;
  none.str("general.architecture", "llama");
  const auto nb = none.build();
  auto nv = parse_gguf_vocab(nb.data(), nb.size(), "n.gguf");
  ASSERT_FALSE(nv.ok());
  EXPECT_TRUE(nv.status().is_not_found());
  EXPECT_NE(nv.status().message().find("tokenizer.ggml.tokens"), std::string::npos);
}

TEST(gguf_reader, BpeVocabularyKeys) {
  GgufBuilder b;
  b.str("general.name", "Tiny BPE");
  b.str("tokenizer.ggml.model", "gpt2");
  b.str("tokenizer.ggml.pre", "llama-bpe");
  b.str_array("tokenizer.ggml.tokens", {"a", "b", "ab", "<|eot_id|>"});
  b.str_array("tokenizer.ggml.merges", {"a b"});
  b.u32("tokenizer.ggml.eot_token_id", 3);
  b.u32("tokenizer.ggml.padding_token_id", 4);  // one past the end, as some converters write it
  b.boolean("tokenizer.ggml.add_eos_token", true);
  const auto bytes = b.build();
  auto v = parse_gguf_vocab(bytes.data(), bytes.size(), "bpe.gguf");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->name, "Tiny BPE");
  EXPECT_EQ(v->pre, "llama-bpe");
  EXPECT_EQ(v->merges, std::vector<std::string>{"a b"});
  EXPECT_EQ(v->bos_id, -1);  // BPE files name their specials; none is guessed
  EXPECT_EQ(v->eos_id, -1);
  EXPECT_EQ(v->unk_id, -1);
  EXPECT_EQ(v->eot_id, 3);
  EXPECT_EQ(v->eom_id, -1);
  EXPECT_EQ(v->pad_id, -1);   // ignored rather than fatal
  EXPECT_TRUE(v->add_bos);    // the Llama 3 pre-tokenizer family adds BOS unless told otherwise
  EXPECT_TRUE(v->add_eos);
  EXPECT_FALSE(v->add_space_prefix);

  GgufBuilder bad;
  bad.str("tokenizer.ggml.model", "gpt2");
  bad.str_array("tokenizer.ggml.tokens", {"a", "b"});
  bad.u32("tokenizer.ggml.eot_token_id", 2);
  const auto bb = bad.build();
  auto bv = parse_gguf_vocab(bb.data(), bb.size(), "bad.gguf");
  ASSERT_TRUE(bv.status().is_corruption()) << bv.status().to_string();
  EXPECT_NE(bv.status().message().find("tokenizer.ggml.eot_token_id' = 2"), std::string::npos);

  GgufBuilder ints;
  ints.str("tokenizer.ggml.model", "gpt2");
  ints.str_array("tokenizer.ggml.tokens", {"a"});
  ints.i32_array("tokenizer.ggml.merges", {1});
  const auto ib = ints.build();
  auto iv = parse_gguf_vocab(ib.data(), ib.size(), "ints.gguf");
  ASSERT_TRUE(iv.status().is_corruption()) << iv.status().to_string();
  EXPECT_NE(iv.status().message().find("tokenizer.ggml.merges"), std::string::npos);
}

TEST(gguf_reader, VocabularyOnlyFileIsNotAModel) {
  auto m = read_model_file(std::string(KVF_SHARED_DIR) + "/peer-tests/llama-spm-tokenizer/ggml-vocab-llama-spm.gguf");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().is_invalid_argument()) << m.status().to_string();
  EXPECT_NE(m.status().message().find("vocabulary only"), std::string::npos) << m.status().to_string();
}

}  // namespace
}  // namespace kvforge::model

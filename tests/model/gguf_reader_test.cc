// GGUF reader: the shared stories260K conversions (own, upstream ggml-org,
// llama.cpp-quantized), the vocabulary-only llama SPM file, and a table of
// hand-made broken files that must each fail with a message naming the problem.
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

namespace kvforge::model {
namespace {

namespace fs = std::filesystem;
using core::TensorType;

const std::string kModels = std::string(KVF_SHARED_DIR) + "/models/stories260K/";
const std::string kSpmVocab = std::string(KVF_SHARED_DIR) + "/peer-tests/llama-spm-tokenizer/ggml-vocab-llama-spm.gguf";

// ---------------------------------------------------------------------------
// A minimal GGUF writer, so broken files can be made by changing one thing.

void put_bytes(std::vector<uint8_t>* out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out->insert(out->end(), b, b + n);
}
template <typename T>
void put(std::vector<uint8_t>* out, T v) {
  put_bytes(out, &v, sizeof v);
}
void put_str(std::vector<uint8_t>* out, const std::string& s) {
  put<uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

struct GgufBuilder {
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type = 0;
    size_t nbytes = 0;
    std::optional<uint64_t> offset;  // override the computed offset
    std::optional<uint32_t> n_dims;  // override the written n_dims
  };
  uint32_t version = 3;
  uint64_t alignment = 32;
  std::vector<uint8_t> kv;
  uint64_t n_kv = 0;
  std::vector<Tensor> tensors;

  void key(const std::string& k, uint32_t type) {
    put_str(&kv, k);
    put<uint32_t>(&kv, type);
    ++n_kv;
  }
  void u32(const std::string& k, uint32_t v) { key(k, 4); put(&kv, v); }
  void i32(const std::string& k, int32_t v) { key(k, 5); put(&kv, v); }
  void f32(const std::string& k, float v) { key(k, 6); put(&kv, v); }
  void boolean(const std::string& k, bool v) { key(k, 7); put<uint8_t>(&kv, v ? 1 : 0); }
  void str(const std::string& k, const std::string& v) { key(k, 8); put_str(&kv, v); }
  void str_array(const std::string& k, const std::vector<std::string>& v) {
    key(k, 9);
    put<uint32_t>(&kv, 8);
    put<uint64_t>(&kv, v.size());
    for (const auto& s : v) put_str(&kv, s);
  }
  void f32_array(const std::string& k, const std::vector<float>& v) {
    key(k, 9);
    put<uint32_t>(&kv, 6);
    put<uint64_t>(&kv, v.size());
    for (float f : v) put(&kv, f);
  }
  void i32_array(const std::string& k, const std::vector<int32_t>& v) {
    key(k, 9);
    put<uint32_t>(&kv, 5);
    put<uint64_t>(&kv, v.size());
    for (int32_t x : v) put(&kv, x);
  }
  void tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type = 0) {
    size_t n = 1;
    for (uint64_t d : dims) n *= d;
    tensors.push_back({name, dims, type, type == 0 ? n * 4 : (type == 1 ? n * 2 : n / 32 * 34), {}, {}});
  }
  Tensor* find(const std::string& name) {
    for (auto& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> out;
    put_bytes(&out, "GGUF", 4);
    put<uint32_t>(&out, version);
    put<uint64_t>(&out, tensors.size());
    put<uint64_t>(&out, n_kv);
    put_bytes(&out, kv.data(), kv.size());
    uint64_t off = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors) {
      put_str(&out, t.name);
      put<uint32_t>(&out, t.n_dims.value_or(static_cast<uint32_t>(t.dims.size())));
      for (uint64_t d : t.dims) put<uint64_t>(&out, d);
      put<uint32_t>(&out, t.type);
      offsets.push_back(off);
      put<uint64_t>(&out, t.offset.value_or(off));
      off += (t.nbytes + alignment - 1) / alignment * alignment;
    }
    while (out.size() % alignment != 0) out.push_back(0);
    for (size_t i = 0; i < tensors.size(); ++i) {
      out.resize(out.size() + (i + 1 < tensors.size() ? offsets[i + 1] - offsets[i] : tensors[i].nbytes), 0);
      // Recognisable bytes: tensor i, element j.
      for (size_t j = 0; j < tensors[i].nbytes; ++j) {
        out[out.size() - (i + 1 < tensors.size() ? offsets[i + 1] - offsets[i] : tensors[i].nbytes) + j] =
            static_cast<uint8_t>(i * 7 + j);
      }
    }
    return out;
  }
};

// A small valid llama: dim 8, hidden 16, 1 layer, 2 heads / 1 kv head (head_dim 4), vocab 4, tied.
GgufBuilder tiny_model(int layers = 1) {
  GgufBuilder b;
  b.str("general.architecture", "llama");
  b.str("general.name", "tiny");
  b.u32("llama.embedding_length", 8);
  b.u32("llama.feed_forward_length", 16);
  b.u32("llama.block_count", static_cast<uint32_t>(layers));
  b.u32("llama.attention.head_count", 2);
  b.u32("llama.attention.head_count_kv", 1);
  b.u32("llama.context_length", 32);
  b.f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  b.str("tokenizer.ggml.model", "llama");
  b.str_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81hi"});
  b.f32_array("tokenizer.ggml.scores", {0, 0, 0, -1.5f});
  b.i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1});
  b.u32("tokenizer.ggml.bos_token_id", 1);
  b.u32("tokenizer.ggml.eos_token_id", 2);
  b.tensor("token_embd.weight", {8, 4});
  b.tensor("output_norm.weight", {8});
  for (int l = 0; l < layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    b.tensor(p + "attn_norm.weight", {8});
    b.tensor(p + "attn_q.weight", {8, 8});
    b.tensor(p + "attn_k.weight", {8, 4});
    b.tensor(p + "attn_v.weight", {8, 4});
    b.tensor(p + "attn_output.weight", {8, 8});
    b.tensor(p + "ffn_norm.weight", {8});
    b.tensor(p + "ffn_gate.weight", {8, 16});
    b.tensor(p + "ffn_up.weight", {8, 16});
    b.tensor(p + "ffn_down.weight", {16, 8});
  }
  return b;
}

using kvforge::testing::TempDir;

Result<ModelFile> parse_bytes(const std::vector<uint8_t>& b, const std::string& name = "mem.gguf") {
  return parse_gguf(b.data(), b.size(), nullptr, name);
}

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

struct BrokenCase {
  const char* name;
  std::function<std::vector<uint8_t>()> make;
  std::vector<std::string> expect;  // substrings of the message
  StatusCode code = StatusCode::kCorruption;
};

void set_u64(std::vector<uint8_t>* b, size_t off, uint64_t v) { std::memcpy(b->data() + off, &v, 8); }

std::vector<BrokenCase> broken_cases() {
  std::vector<BrokenCase> cases;
  auto with = [](std::function<void(GgufBuilder&)> f) {
    return [f]() {
      GgufBuilder b = tiny_model();
      f(b);
      return b.build();
    };
  };
  cases.push_back({"bad_magic", [] { auto b = tiny_model().build(); b[0] = 'X'; return b; },
                   {"bad magic", "GGUF"}});
  cases.push_back({"version1", with([](GgufBuilder& b) { b.version = 1; }), {"version 1"},
                   StatusCode::kNotSupported});
  cases.push_back({"version99", with([](GgufBuilder& b) { b.version = 99; }), {"version 99"},
                   StatusCode::kNotSupported});
  cases.push_back({"absurd_tensor_count", [] { auto b = tiny_model().build(); set_u64(&b, 8, 1ull << 60); return b; },
                   {"absurd tensor count"}});
  cases.push_back({"absurd_kv_count", [] { auto b = tiny_model().build(); set_u64(&b, 16, ~0ull); return b; },
                   {"absurd metadata key/value count"}});
  cases.push_back({"absurd_key_length", [] { auto b = tiny_model().build(); set_u64(&b, 24, 1ull << 62); return b; },
                   {"absurd length", "metadata key #0"}});
  cases.push_back({"absurd_string_value_length",
                   with([](GgufBuilder& b) {
                     b.key("general.description", 8);
                     put<uint64_t>(&b.kv, 1ull << 50);
                   }),
                   {"truncated", "general.description"}});
  cases.push_back({"absurd_array_length",
                   with([](GgufBuilder& b) {
                     b.key("test.array", 9);
                     put<uint32_t>(&b.kv, 6);
                     put<uint64_t>(&b.kv, 1ull << 61);
                   }),
                   {"test.array", "array of"}});
  cases.push_back({"unknown_value_type", with([](GgufBuilder& b) { b.key("test.bad", 13); put<uint32_t>(&b.kv, 0); }),
                   {"test.bad", "unknown value type 13"}});
  cases.push_back({"deep_nested_arrays",
                   with([](GgufBuilder& b) {
                     b.key("test.deep", 9);
                     for (int i = 0; i < 20; ++i) put<uint32_t>(&b.kv, 9), put<uint64_t>(&b.kv, 1);
                     put<uint32_t>(&b.kv, 0), put<uint64_t>(&b.kv, 0);
                   }),
                   {"test.deep", "nests arrays deeper"}});
  cases.push_back({"absurd_n_dims", with([](GgufBuilder& b) { b.find("output_norm.weight")->n_dims = 9; }),
                   {"output_norm.weight", "n_dims = 9"}});
  cases.push_back({"zero_n_dims", with([](GgufBuilder& b) { b.find("output_norm.weight")->n_dims = 0; }),
                   {"output_norm.weight", "n_dims = 0"}});
  cases.push_back({"absurd_dims",
                   with([](GgufBuilder& b) { b.find("token_embd.weight")->dims = {1ull << 40, 1ull << 40}; }),
                   {"token_embd.weight", "absurd dimension"}});
  cases.push_back({"dims_larger_than_file",
                   with([](GgufBuilder& b) { b.find("output_norm.weight")->dims = {uint64_t{1} << 60}; }),
                   {"output_norm.weight", "more than a file of"}});
  cases.push_back({"zero_dim", with([](GgufBuilder& b) { b.find("token_embd.weight")->dims = {8, 0}; }),
                   {"token_embd.weight", "absurd dimension 0"}});
  cases.push_back({"unsupported_tensor_type_iq2_xxs",
                   with([](GgufBuilder& b) { b.find("blk.0.attn_q.weight")->type = 16; }),
                   {"blk.0.attn_q.weight", "IQ2_XXS"}, StatusCode::kNotSupported});
  cases.push_back({"unknown_tensor_type_999", with([](GgufBuilder& b) { b.find("blk.0.attn_q.weight")->type = 999; }),
                   {"blk.0.attn_q.weight", "999"}, StatusCode::kNotSupported});
  cases.push_back({"q8_0_row_not_multiple_of_block",
                   with([](GgufBuilder& b) { b.find("blk.0.ffn_down.weight")->type = 8; }),
                   {"blk.0.ffn_down.weight", "block size 32"}});
  cases.push_back({"offset_out_of_file", with([](GgufBuilder& b) { b.find("output_norm.weight")->offset = 1ull << 40; }),
                   {"output_norm.weight", "past the end"}});
  cases.push_back({"offset_wraps", with([](GgufBuilder& b) { b.find("output_norm.weight")->offset = ~0ull - 31; }),
                   {"output_norm.weight", "past the end"}});
  cases.push_back({"misaligned_offset", with([](GgufBuilder& b) { b.find("output_norm.weight")->offset = 36; }),
                   {"output_norm.weight", "not a multiple of the alignment 32"}});
  cases.push_back({"alignment_not_power_of_two", with([](GgufBuilder& b) { b.u32("general.alignment", 48); }),
                   {"general.alignment", "48"}});
  cases.push_back({"alignment_zero", with([](GgufBuilder& b) { b.u32("general.alignment", 0); }),
                   {"general.alignment"}});
  cases.push_back({"duplicate_key", with([](GgufBuilder& b) { b.u32("llama.block_count", 1); }),
                   {"duplicate metadata key 'llama.block_count'"}});
  cases.push_back({"duplicate_tensor", with([](GgufBuilder& b) { b.tensor("output_norm.weight", {8}); }),
                   {"duplicate tensor name 'output_norm.weight'"}});
  cases.push_back({"missing_tensor",
                   with([](GgufBuilder& b) {
                     b.tensors.erase(b.tensors.begin() + static_cast<long>(b.tensors.size()) - 2);  // ffn_up
                   }),
                   {"required tensor 'blk.0.ffn_up.weight' is missing"}});
  cases.push_back({"wrong_shape", with([](GgufBuilder& b) { b.find("blk.0.attn_k.weight")->dims = {8, 8}; }),
                   {"blk.0.attn_k.weight", "[8, 8]", "expected [8, 4]"}});
  cases.push_back({"wrong_output_shape", with([](GgufBuilder& b) { b.tensor("output.weight", {8, 5}); }),
                   {"output.weight", "expected [8, 4]"}});
  cases.push_back({"non_llama_architecture",
                   [] {
                     GgufBuilder b;
                     b.str("general.architecture", "gpt2");
                     b.u32("gpt2.block_count", 1);
                     return b.build();
                   },
                   {"architecture 'gpt2'"}, StatusCode::kNotSupported});
  cases.push_back({"missing_architecture", [] { GgufBuilder b; b.u32("llama.block_count", 1); return b.build(); },
                   {"general.architecture"}});
  cases.push_back({"missing_block_count",
                   [] {
                     GgufBuilder b = tiny_model();
                     GgufBuilder c;  // same model without llama.block_count: rebuild kv from scratch
                     c.str("general.architecture", "llama");
                     c.u32("llama.embedding_length", 8);
                     c.tensors = b.tensors;
                     return c.build();
                   },
                   {"llama.feed_forward_length", "missing"}});
  cases.push_back({"wrong_type_for_dim", with([](GgufBuilder& b) {
                     GgufBuilder c;
                     c.str("general.architecture", "llama");
                     c.str("llama.embedding_length", "eight");
                     c.tensors = b.tensors;
                     b = c;
                   }),
                   {"llama.embedding_length", "should be an integer"}});
  cases.push_back({"head_count_not_dividing", with([](GgufBuilder& b) {
                     GgufBuilder c = tiny_model();
                     (void)c;
                     b.kv.clear();
                     b.n_kv = 0;
                     b.str("general.architecture", "llama");
                     b.u32("llama.embedding_length", 8);
                     b.u32("llama.feed_forward_length", 16);
                     b.u32("llama.block_count", 1);
                     b.u32("llama.attention.head_count", 3);
                     b.u32("llama.context_length", 32);
                     b.u32("llama.vocab_size", 4);
                   }),
                   {"dim = 8", "n_heads = 3"}, StatusCode::kInvalidArgument});
  cases.push_back({"bos_out_of_range", with([](GgufBuilder& b) {
                     GgufBuilder c = tiny_model();
                     b = c;
                     // Replace the bos id: rebuild with the id past the vocabulary.
                     b.kv.clear();
                     b.n_kv = 0;
                     b.str("general.architecture", "llama");
                     b.u32("llama.embedding_length", 8);
                     b.u32("llama.feed_forward_length", 16);
                     b.u32("llama.block_count", 1);
                     b.u32("llama.attention.head_count", 2);
                     b.u32("llama.attention.head_count_kv", 1);
                     b.u32("llama.context_length", 32);
                     b.str_array("tokenizer.ggml.tokens", {"a", "b", "c", "d"});
                     b.u32("tokenizer.ggml.bos_token_id", 4);
                   }),
                   {"tokenizer.ggml.bos_token_id", "= 4"}});
  cases.push_back({"scores_count_mismatch", with([](GgufBuilder& b) {
                     b.kv.clear();
                     b.n_kv = 0;
                     b.str("general.architecture", "llama");
                     b.u32("llama.embedding_length", 8);
                     b.u32("llama.feed_forward_length", 16);
                     b.u32("llama.block_count", 1);
                     b.u32("llama.attention.head_count", 2);
                     b.u32("llama.attention.head_count_kv", 1);
                     b.u32("llama.context_length", 32);
                     b.str_array("tokenizer.ggml.tokens", {"a", "b", "c", "d"});
                     b.f32_array("tokenizer.ggml.scores", {1, 2, 3});
                   }),
                   {"tokenizer.ggml.scores", "float32 x 3", "expected float32 x 4"}});
  return cases;
}

TEST(gguf_reader, CorruptionTable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  for (const BrokenCase& c : broken_cases()) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.write(std::string(c.name) + ".gguf", c.make());
    auto m = read_model_file(path);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), c.code) << m.status().to_string();
    const std::string& msg = m.status().message();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const std::string& s : c.expect) EXPECT_NE(msg.find(s), std::string::npos) << "want '" << s << "' in: " << msg;
  }
}

TEST(gguf_reader, TruncatedAtEveryOffset) {
  const std::vector<uint8_t> full = tiny_model().build();
  ASSERT_TRUE(parse_bytes(full).ok());
  // Every cut inside the header, metadata and tensor infos, and a sample through the data.
  size_t cuts = 0;
  for (size_t n = 0; n < full.size(); n += (n < 1200 ? 1 : 61)) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    auto m = parse_gguf(cut.data(), cut.size(), nullptr, "cut.gguf");
    ASSERT_FALSE(m.ok()) << "cut at " << n;
    const std::string& msg = m.status().message();
    EXPECT_EQ(msg.rfind("cut.gguf: ", 0), 0u) << msg;
    const bool named = msg.find("truncated") != std::string::npos || msg.find("past the end") != std::string::npos ||
                       msg.find("empty") != std::string::npos || msg.find("bad magic") != std::string::npos ||
                       msg.find("absurd") != std::string::npos;
    EXPECT_TRUE(named) << "cut at " << n << ": " << msg;
    ++cuts;
  }
  EXPECT_GT(cuts, 1000u);
  // The real upstream file, cut at a spread of offsets, through the file API.
  std::ifstream in(kModels + "stories260K-ggml-org.gguf", std::ios::binary);
  std::vector<uint8_t> real((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(real.size(), 1185376u);
  TempDir dir;
  for (size_t n : {size_t{3}, size_t{23}, size_t{100}, size_t{5000}, size_t{14175}, size_t{14176}, size_t{600000},
                   real.size() - 1}) {
    const std::string path =
        dir.write("cut" + std::to_string(n) + ".gguf", std::vector<uint8_t>(real.begin(), real.begin() + static_cast<long>(n)));
    auto m = read_model_file(path);
    EXPECT_FALSE(m.ok()) << n;
    EXPECT_TRUE(m.status().is_corruption()) << m.status().to_string();
  }
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

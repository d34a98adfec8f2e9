// GGUF reader: a table of hand-made broken files that must each fail with a
// message naming the problem, and files cut at every offset.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "kvforge/model/gguf_reader.h"
#include "model/gguf_builder.h"
#include "temp_dir.h"

namespace kvforge::model {
namespace {

using kvforge::testing::GgufBuilder;
using kvforge::testing::parse_bytes;
using kvforge::testing::put;
using kvforge::testing::TempDir;
using kvforge::testing::tiny_model;

const std::string kModels = std::string(KVF_SHARED_DIR) + "/models/stories260K/";

struct BrokenCase {
  const char* name;
  std::function<std::vector<uint8_t>()> make;
  std::vector<std::string> expect;  // substrings of the message
  StatusCode code = StatusCode::kCorruption;
};

void set_u64(std::vector<uint8_t>* b, size_t off, uint64_t v) { std::memcpy(b->data() + off, &v, 8); }
// The tiny model, changed by `change`.
std::function<std::vector<uint8_t>()> with(std::function<void(GgufBuilder&)> change) {
  return [change]() {
    GgufBuilder b = tiny_model();
    change(b);
    return b.build();
  };
}

// The fixed header: magic, version and the two counts.
std::vector<BrokenCase> header_cases() {
  std::vector<BrokenCase> cases;
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
  return cases;
}

// Metadata keys and values: lengths, types and nesting.
std::vector<BrokenCase> metadata_cases() {
  std::vector<BrokenCase> cases;
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
  return cases;
}

// Tensor infos: dimensions, types and data offsets.
std::vector<BrokenCase> tensor_info_cases() {
  std::vector<BrokenCase> cases;
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
  // token_embd.weight holds data bytes [0, 128); output_norm.weight 32 bytes.
  cases.push_back({"tensors_at_one_offset", with([](GgufBuilder& b) { b.find("output_norm.weight")->offset = 0; }),
                   {"tensors 'token_embd.weight' (data bytes [0, 128)) and 'output_norm.weight' (data bytes [0, 32)) "
                    "overlap"}});
  cases.push_back({"tensors_partly_overlap", with([](GgufBuilder& b) { b.find("output_norm.weight")->offset = 96; }),
                   {"tensors 'token_embd.weight' (data bytes [0, 128)) and 'output_norm.weight' (data bytes [96, 128)) "
                    "overlap"}});
  cases.push_back({"misaligned_offset", with([](GgufBuilder& b) { b.find("output_norm.weight")->offset = 36; }),
                   {"output_norm.weight", "not a multiple of the alignment 32"}});
  return cases;
}

// Alignment, duplicates and the tensors a llama needs.
std::vector<BrokenCase> layout_cases() {
  std::vector<BrokenCase> cases;
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
  cases.push_back({"wrong_shape",
                   with([](GgufBuilder& b) {
                     b.find("blk.0.attn_k.weight")->dims = {8, 8};
                     b.find("blk.0.attn_k.weight")->nbytes = 8 * 8 * 4;  // else it runs into attn_v
                   }),
                   {"blk.0.attn_k.weight", "[8, 8]", "expected [8, 4]"}});
  cases.push_back({"wrong_output_shape", with([](GgufBuilder& b) { b.tensor("output.weight", {8, 5}); }),
                   {"output.weight", "expected [8, 4]"}});
  return cases;
}

// Architecture and hyperparameter keys.
std::vector<BrokenCase> hyperparameter_cases() {
  std::vector<BrokenCase> cases;
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
  return cases;
}

// The vocabulary arrays and special ids.
std::vector<BrokenCase> vocabulary_cases() {
  std::vector<BrokenCase> cases;
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

std::vector<BrokenCase> broken_cases() {
  std::vector<BrokenCase> cases;
  for (auto group : {header_cases, metadata_cases, tensor_info_cases, layout_cases, hyperparameter_cases,
                     vocabulary_cases}) {
    for (BrokenCase& c : group()) cases.push_back(std::move(c));
  }
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

}  // namespace
}  // namespace kvforge::model

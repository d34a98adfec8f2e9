// llama2.c checkpoint reader: the legacy stories260K.bin against the GGUF
// conversions, a v1 checkpoint rewritten from it, and broken headers/sizes.
#include "kvforge/model/llama2c_reader.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kvforge/model/gguf_reader.h"

namespace kvforge::model {
namespace {

namespace fs = std::filesystem;

const std::string kModels = std::string(KVF_SHARED_DIR) + "/models/stories260K/";
const std::string kBin = kModels + "stories260K.bin";

using kvforge::testing::TempDir;

template <typename T>
void put(std::vector<uint8_t>* out, T v) {
  const auto* b = reinterpret_cast<const uint8_t*>(&v);
  out->insert(out->end(), b, b + sizeof v);
}

std::vector<uint8_t> bytes_of(const TensorRef* t) { return t ? std::vector<uint8_t>(t->data, t->data + t->nbytes) : std::vector<uint8_t>{}; }

struct Hdr {
  int32_t dim = 8, hidden = 16, layers = 2, heads = 2, kv_heads = 1, vocab = 5, seq_len = 4;
};

// Float count of a legacy checkpoint's body, as run.c walks it.
size_t legacy_floats(const Hdr& h) {
  const size_t D = h.dim, H = h.hidden, L = h.layers, hd = h.dim / h.heads, kv = hd * h.kv_heads,
               V = h.vocab < 0 ? -h.vocab : h.vocab;
  size_t n = V * D + L * D + L * D * D + 2 * L * kv * D + L * D * D + L * D + 3 * L * H * D + D +
             h.seq_len * hd;  // two RoPE tables of seq_len * hd / 2
  if (h.vocab < 0) n += V * D;
  return n;
}

std::vector<uint8_t> legacy_file(const Hdr& h, size_t extra_floats = 0) {
  std::vector<uint8_t> b;
  for (int32_t v : {h.dim, h.hidden, h.layers, h.heads, h.kv_heads, h.vocab, h.seq_len}) put(&b, v);
  const size_t n = legacy_floats(h) + extra_floats;
  for (size_t i = 0; i < n; ++i) put(&b, static_cast<float>(i));
  return b;
}

std::vector<uint8_t> v1_header(const Hdr& h, int32_t version, uint8_t shared) {
  std::vector<uint8_t> b;
  put<uint32_t>(&b, 0x616b3432);
  put(&b, version);
  for (int32_t v : {h.dim, h.hidden, h.layers, h.heads, h.kv_heads, h.vocab, h.seq_len}) put(&b, v);
  put(&b, shared);
  b.resize(256, 0);
  return b;
}

// Rewrites a parsed model as a v1 checkpoint (export.py version1_export order).
std::vector<uint8_t> to_v1(const ModelFile& m) {
  const ModelConfig& c = m.config;
  Hdr h{c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.context_length};
  std::vector<uint8_t> out = v1_header(h, 1, c.tied_output ? 1 : 0);
  auto append = [&](const std::string& name) {
    const TensorRef* t = m.find(name);
    if (t) out.insert(out.end(), t->data, t->data + t->nbytes);
  };
  auto per_layer = [&](const char* what) {
    for (int l = 0; l < c.n_layers; ++l) append("blk." + std::to_string(l) + "." + what + ".weight");
  };
  per_layer("attn_norm");
  per_layer("ffn_norm");
  append("output_norm.weight");
  append("token_embd.weight");
  for (const char* w : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"}) per_layer(w);
  if (!c.tied_output) append("output.weight");
  return out;
}

TEST(llama2c_reader, LegacyStories260K) {
  auto m = read_model_file(kBin);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->format, "llama2.c legacy");
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.context_length, 512);
  EXPECT_TRUE(c.tied_output);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(m->vocab.has_value());
  EXPECT_EQ(m->tensors.size(), 47u);
  EXPECT_EQ(m->find("output.weight"), nullptr);
  // Tensors are views into the mapped file, not copies.
  const auto* base = static_cast<const uint8_t*>(m->storage.get());
  EXPECT_EQ(m->find("token_embd.weight")->data, base + 28);
  EXPECT_EQ(m->find("blk.1.ffn_down.weight")->dims, (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(m->find("blk.1.attn_v.weight")->dims, (std::vector<int64_t>{64, 32}));
  size_t params = 0;
  for (const TensorRef& t : m->tensors) {
    EXPECT_EQ(t.type, core::TensorType::kF32);
    EXPECT_EQ(t.nbytes, static_cast<size_t>(t.elements()) * 4);
    params += static_cast<size_t>(t.elements());
  }
  EXPECT_EQ(params, 260032u);  // README: embedding counted once
}

TEST(llama2c_reader, MatchesGgufByteForByte) {
  auto bin = read_llama2c(kBin);
  ASSERT_TRUE(bin.ok()) << bin.status().to_string();
  for (const char* g : {"stories260K-f32.gguf", "stories260K-ggml-org.gguf"}) {
    SCOPED_TRACE(g);
    auto gg = read_gguf(kModels + g);
    ASSERT_TRUE(gg.ok()) << gg.status().to_string();
    const auto embd = bytes_of(bin->find("token_embd.weight"));
    ASSERT_EQ(embd.size(), 512u * 64u * 4u);
    EXPECT_EQ(embd, bytes_of(gg->find("token_embd.weight")));
    // Every llama2.c tensor equals the F32 GGUF one of the same name and shape.
    for (const TensorRef& t : bin->tensors) {
      const TensorRef* o = gg->find(t.name);
      ASSERT_NE(o, nullptr) << t.name;
      EXPECT_EQ(t.dims, o->dims) << t.name;
      EXPECT_EQ(bytes_of(&t), bytes_of(o)) << t.name;
    }
  }
}

TEST(llama2c_reader, V1CheckpointFromLegacy) {
  auto legacy = read_llama2c(kBin);
  ASSERT_TRUE(legacy.ok()) << legacy.status().to_string();
  TempDir dir;
  const std::string path = dir.write("stories260K-v1.bin", to_v1(*legacy));
  auto v1 = read_model_file(path);
  ASSERT_TRUE(v1.ok()) << v1.status().to_string();
  EXPECT_EQ(v1->format, "llama2.c v1");
  EXPECT_TRUE(v1->config.tied_output);
  EXPECT_EQ(v1->config.context_length, 512);
  ASSERT_EQ(v1->tensors.size(), legacy->tensors.size());
  for (const TensorRef& t : legacy->tensors) {
    const TensorRef* o = v1->find(t.name);
    ASSERT_NE(o, nullptr) << t.name;
    EXPECT_EQ(t.dims, o->dims) << t.name;
    EXPECT_EQ(bytes_of(&t), bytes_of(o)) << t.name;
  }
  // v1 files are laid out by weight kind: norms first, so token_embd follows 11 * 64 floats.
  EXPECT_EQ(v1->find("token_embd.weight")->data - static_cast<const uint8_t*>(v1->storage.get()), 256 + 11 * 64 * 4);
}

TEST(llama2c_reader, SeparateClassifier) {
  Hdr h;
  h.vocab = -5;
  const auto legacy = legacy_file(h);
  auto m = parse_llama2c(legacy.data(), legacy.size(), nullptr, "sep.bin");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_FALSE(m->config.tied_output);
  EXPECT_EQ(m->config.vocab_size, 5);
  const TensorRef* out = m->find("output.weight");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->dims, (std::vector<int64_t>{8, 5}));
  // The classifier is the last thing in the file, after the RoPE tables.
  EXPECT_EQ(out->data + out->nbytes, legacy.data() + legacy.size());
  float first;
  std::memcpy(&first, out->data, 4);
  EXPECT_EQ(first, static_cast<float>(legacy_floats(h) - 5 * 8));

  // The same model as v1 with shared = 0 round-trips.
  auto v1 = to_v1(*m);
  auto m1 = parse_llama2c(v1.data(), v1.size(), nullptr, "sep-v1.bin");
  ASSERT_TRUE(m1.ok()) << m1.status().to_string();
  EXPECT_FALSE(m1->config.tied_output);
  EXPECT_EQ(bytes_of(m1->find("output.weight")), bytes_of(out));
  EXPECT_EQ(bytes_of(m1->find("blk.1.ffn_up.weight")), bytes_of(m->find("blk.1.ffn_up.weight")));
}

struct Broken {
  const char* name;
  std::vector<uint8_t> bytes;
  std::vector<std::string> expect;
  StatusCode code = StatusCode::kCorruption;
};

std::vector<Broken> broken() {
  std::vector<Broken> v;
  Hdr ok;
  auto with = [&](auto f) {
    Hdr h = ok;
    f(h);
    std::vector<uint8_t> b;
    for (int32_t x : {h.dim, h.hidden, h.layers, h.heads, h.kv_heads, h.vocab, h.seq_len}) put(&b, x);
    b.resize(b.size() + 4096, 0);
    return b;
  };
  auto full = legacy_file(ok);
  v.push_back({"truncated_body", std::vector<uint8_t>(full.begin(), full.end() - 4),
               {"implies " + std::to_string(full.size()) + " bytes", "file has " + std::to_string(full.size() - 4),
                "truncated"}});
  v.push_back({"trailing_bytes", legacy_file(ok, 1), {"trailing bytes", "file has " + std::to_string(full.size() + 4)}});
  v.push_back({"truncated_header", std::vector<uint8_t>(full.begin(), full.begin() + 20),
               {"header needs 28 bytes", "file has 20"}});
  v.push_back({"tiny", std::vector<uint8_t>(full.begin(), full.begin() + 2), {"truncated", "2 bytes"}});
  v.push_back({"negative_dim", with([](Hdr& h) { h.dim = -8; }), {"dim = -8"}});
  v.push_back({"huge_dim", with([](Hdr& h) { h.dim = 1 << 30; }), {"dim = 1073741824", "exceeds"}});
  v.push_back({"huge_hidden", with([](Hdr& h) { h.hidden = 0x7fffffff; }), {"hidden_dim = 2147483647"}});
  v.push_back({"zero_layers", with([](Hdr& h) { h.layers = 0; }), {"n_layers = 0"}});
  v.push_back({"huge_layers", with([](Hdr& h) { h.layers = 1 << 20; }), {"n_layers = 1048576"}});
  v.push_back({"zero_heads", with([](Hdr& h) { h.heads = 0; }), {"n_heads = 0"}});
  v.push_back({"kv_heads_not_dividing", with([](Hdr& h) { h.heads = 4, h.kv_heads = 3; }),
               {"n_heads = 4", "n_kv_heads = 3"}});
  v.push_back({"odd_head_dim", with([](Hdr& h) { h.heads = 8, h.kv_heads = 8; }), {"head_dim = 1"}});
  v.push_back({"dim_not_divisible", with([](Hdr& h) { h.heads = 3, h.kv_heads = 3; }), {"dim = 8", "n_heads = 3"}});
  v.push_back({"int_min_vocab", with([](Hdr& h) { h.vocab = INT32_MIN; }), {"vocab_size"}});
  v.push_back({"zero_vocab", with([](Hdr& h) { h.vocab = 0; }), {"vocab_size = 0"}});
  v.push_back({"negative_seq_len", with([](Hdr& h) { h.seq_len = -1; }), {"context_length = -1"}});
  auto v1 = v1_header(ok, 1, 1);
  v.push_back({"v1_truncated_header", std::vector<uint8_t>(v1.begin(), v1.begin() + 100), {"header needs 256 bytes"}});
  v.push_back({"v1_body_missing", v1, {"llama2.c v1", "file has 256", "truncated"}});
  v.push_back({"v1_version2", v1_header(ok, 2, 1), {"version 2"}, StatusCode::kNotSupported});
  v.push_back({"v1_version7", v1_header(ok, 7, 1), {"version 7"}, StatusCode::kNotSupported});
  v.push_back({"v1_bad_shared_flag", v1_header(ok, 1, 9), {"shared-classifier flag is 9"}});
  Hdr neg = ok;
  neg.vocab = -5;
  v.push_back({"v1_negative_vocab", v1_header(neg, 1, 0), {"negative vocab_size -5"}});
  return v;
}

TEST(llama2c_reader, CorruptionTable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  for (const Broken& b : broken()) {
    SCOPED_TRACE(b.name);
    const std::string path = dir.write(std::string(b.name) + ".bin", b.bytes);
    auto m = read_llama2c(path);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), b.code) << m.status().to_string();
    const std::string& msg = m.status().message();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const std::string& s : b.expect) EXPECT_NE(msg.find(s), std::string::npos) << "want '" << s << "' in: " << msg;
  }
}

TEST(llama2c_reader, TruncatedRealFileAtManyOffsets) {
  std::ifstream in(kBin, std::ios::binary);
  std::vector<uint8_t> real((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(real.size(), 1056540u);
  for (size_t n = 0; n < real.size(); n += 9973) {
    auto m = parse_llama2c(real.data(), n, nullptr, "cut.bin");
    ASSERT_FALSE(m.ok()) << n;
    EXPECT_TRUE(m.status().is_corruption()) << m.status().to_string();
  }
  auto whole = parse_llama2c(real.data(), real.size(), nullptr, "whole.bin");
  EXPECT_TRUE(whole.ok()) << whole.status().to_string();
}

TEST(llama2c_reader, MissingAndEmpty) {
  auto m = read_llama2c("/nonexistent/stories.bin");
  EXPECT_TRUE(m.status().is_not_found());
  EXPECT_NE(m.status().message().find("/nonexistent/stories.bin"), std::string::npos);
  TempDir dir;
  const std::string path = dir.write("empty.bin", {});
  auto e = read_model_file(path);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("empty"), std::string::npos);
}

}  // namespace
}  // namespace kvforge::model

namespace kvforge::model {
namespace {

// The fuzz seeds named tiny_* are valid files; keep them so, or the fuzzers
// would start from inputs that never reach the deeper checks.
TEST(fuzz_seeds, ValidSeedsParse) {
  const std::string dir = std::string(KVF_SOURCE_DIR) + "/tests/fuzz/corpus/";
  int n = 0;
  for (const char* f : {"gguf/tiny_f32.gguf", "gguf/tiny_f16_untied_v2.gguf", "gguf/tiny_q8_0_align64.gguf",
                        "llama2c/tiny_legacy.bin", "llama2c/tiny_legacy_sep.bin", "llama2c/tiny_v1_shared.bin",
                        "llama2c/tiny_v1_sep.bin"}) {
    auto m = read_model_file(dir + f);
    EXPECT_TRUE(m.ok()) << f << ": " << m.status().to_string();
    ++n;
  }
  EXPECT_EQ(n, 7);
  auto v = read_gguf_vocab(dir + "gguf/vocab_only.gguf");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->tokens.size(), 5u);
  EXPECT_EQ(v->types[3], Vocab::kByte);
}

}  // namespace
}  // namespace kvforge::model

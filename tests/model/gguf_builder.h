// A minimal GGUF writer for tests, so broken files can be made by changing one thing,
// and a small valid llama built with it.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "kvforge/model/gguf_reader.h"

namespace kvforge::testing {

inline void put_bytes(std::vector<uint8_t>* out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out->insert(out->end(), b, b + n);
}
template <typename T>
void put(std::vector<uint8_t>* out, T v) {
  put_bytes(out, &v, sizeof v);
}
inline void put_str(std::vector<uint8_t>* out, const std::string& s) {
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
inline GgufBuilder tiny_model(int layers = 1) {
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

inline Result<model::ModelFile> parse_bytes(const std::vector<uint8_t>& b, const std::string& name = "mem.gguf") {
  return model::parse_gguf(b.data(), b.size(), nullptr, name);
}

}  // namespace kvforge::testing

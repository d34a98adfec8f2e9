// Random-weight GGUF models of each supported architecture, written with
// GgufWriter, for tests that need a model file of a given shape.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kvforge/model/gguf_writer.h"

namespace kvforge::testing {

struct ArchSpec {
  std::string arch = "llama";  // llama, qwen2, qwen3
  int dim = 64, hidden = 96, layers = 2, heads = 4, kv_heads = 2, head_dim = 16, vocab = 300;
  int rope_dim = 0;           // 0: whole head
  float rope_theta = 10000.0f;
  float rope_scale = 0;       // rope.scaling.factor (linear) when > 0
  bool freq_factors = false;  // rope_freqs.weight (Llama 3)
  bool biases = false;        // attn_{q,k,v}.bias
  bool tied = false;
  uint32_t seed = 7;
};

// Every tensor of the model as fp32, named as in the GGUF; dims in GGML order.
struct ArchWeights {
  std::map<std::string, std::vector<float>> t;
  std::map<std::string, std::vector<int64_t>> dims;
};

inline ArchWeights make_arch_weights(const ArchSpec& s) {
  std::mt19937 rng(s.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  ArchWeights w;
  auto mat = [&](const std::string& name, int rows, int cols, float gain) {
    std::vector<float> v(static_cast<size_t>(rows) * cols);
    for (float& x : v) x = normal(rng) * gain / std::sqrt(static_cast<float>(cols));
    w.t[name] = v;
    w.dims[name] = {cols, rows};
  };
  auto vec = [&](const std::string& name, int n, float mean, float sd) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = mean + sd * normal(rng);
    w.t[name] = v;
    w.dims[name] = {n};
  };
  const int q_dim = s.heads * s.head_dim, kv_dim = s.kv_heads * s.head_dim;
  const int rot = s.rope_dim > 0 ? s.rope_dim : s.head_dim;
  mat("token_embd.weight", s.vocab, s.dim, s.tied ? 3.0f : 1.0f);
  if (s.freq_factors) {
    std::vector<float> f(static_cast<size_t>(rot / 2), 1.0f);
    for (size_t i = f.size() / 2; i < f.size(); ++i) f[i] = 1.0f + 7.0f * float(i - f.size() / 2) / float(f.size() / 2);
    w.t["rope_freqs.weight"] = f;
    w.dims["rope_freqs.weight"] = {rot / 2};
  }
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    vec(p + "attn_norm.weight", s.dim, 1.0f, 0.1f);
    mat(p + "attn_q.weight", q_dim, s.dim, 1.0f);
    mat(p + "attn_k.weight", kv_dim, s.dim, 1.0f);
    mat(p + "attn_v.weight", kv_dim, s.dim, 1.0f);
    mat(p + "attn_output.weight", s.dim, q_dim, 1.0f);
    if (s.biases) {
      vec(p + "attn_q.bias", q_dim, 0.0f, 0.5f);
      vec(p + "attn_k.bias", kv_dim, 0.0f, 0.5f);
      vec(p + "attn_v.bias", kv_dim, 0.0f, 0.5f);
    }
    if (s.arch == "qwen3") {
      vec(p + "attn_q_norm.weight", s.head_dim, 1.0f, 0.2f);
      vec(p + "attn_k_norm.weight", s.head_dim, 1.0f, 0.2f);
    }
    vec(p + "ffn_norm.weight", s.dim, 1.0f, 0.1f);
    mat(p + "ffn_gate.weight", s.hidden, s.dim, 1.0f);
    mat(p + "ffn_up.weight", s.hidden, s.dim, 1.0f);
    mat(p + "ffn_down.weight", s.dim, s.hidden, 1.0f);
  }
  vec("output_norm.weight", s.dim, 1.0f, 0.1f);
  if (!s.tied) mat("output.weight", s.vocab, s.dim, 3.0f);
  return w;
}

// The hyperparameters of `s` as GGUF metadata (no vocabulary).
inline void add_arch_metadata(const ArchSpec& s, model::GgufWriter* g) {
  const std::string a = s.arch + ".";
  g->add_string("general.architecture", s.arch);
  g->add_string("general.name", "test-" + s.arch);
  g->add_u32(a + "context_length", 512);
  g->add_u32(a + "embedding_length", static_cast<uint32_t>(s.dim));
  g->add_u32(a + "feed_forward_length", static_cast<uint32_t>(s.hidden));
  g->add_u32(a + "block_count", static_cast<uint32_t>(s.layers));
  g->add_u32(a + "attention.head_count", static_cast<uint32_t>(s.heads));
  g->add_u32(a + "attention.head_count_kv", static_cast<uint32_t>(s.kv_heads));
  g->add_u32(a + "attention.key_length", static_cast<uint32_t>(s.head_dim));
  g->add_u32(a + "attention.value_length", static_cast<uint32_t>(s.head_dim));
  g->add_u32(a + "rope.dimension_count", static_cast<uint32_t>(s.rope_dim > 0 ? s.rope_dim : s.head_dim));
  g->add_f32(a + "rope.freq_base", s.rope_theta);
  g->add_f32(a + "attention.layer_norm_rms_epsilon", 1e-6f);
  g->add_u32(a + "vocab_size", static_cast<uint32_t>(s.vocab));
  if (s.rope_scale > 0) {
    g->add_string(a + "rope.scaling.type", "linear");
    g->add_f32(a + "rope.scaling.factor", s.rope_scale);
  }
}

inline model::GgufWriter arch_gguf(const ArchSpec& s, const ArchWeights& w) {
  model::GgufWriter g;
  add_arch_metadata(s, &g);
  for (const auto& [name, values] : w.t) (void)g.add_f32_tensor(name, w.dims.at(name), values);
  return g;
}

}  // namespace kvforge::testing


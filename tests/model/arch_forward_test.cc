// Each architecture's forward pass against an independent scalar forward
// written here from the model definitions (double precision, no kvforge
// kernels): qwen3's per-head q/k norm, qwen2's biases and NeoX rotation,
// Llama 3's frequency factors, linear RoPE scaling and partial rotation.
#include <gtest/gtest.h>

#include <cmath>

#include "arch_model.h"
#include "kvforge/eval/logit_file.h"
#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/llama.h"
#include "temp_dir.h"

namespace kvforge::model {
namespace {

using testing::ArchSpec;
using testing::ArchWeights;
using Vec = std::vector<double>;

// y = W x with W stored [rows][cols] (GGML dims {cols, rows}).
Vec matvec(const ArchWeights& w, const std::string& name, const Vec& x) {
  const auto& m = w.t.at(name);
  const size_t cols = static_cast<size_t>(w.dims.at(name)[0]), rows = m.size() / cols;
  Vec y(rows, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) y[r] += static_cast<double>(m[r * cols + c]) * x[c];
  }
  return y;
}

Vec rmsnorm(const Vec& x, const std::vector<float>& weight, size_t offset, size_t n, double eps) {
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += x[offset + i] * x[offset + i];
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  Vec out(n);
  for (size_t i = 0; i < n; ++i) out[i] = x[offset + i] * scale * weight[i];
  return out;
}

// RoPE of one head in place, as the architecture defines it.
void rotate(const ArchSpec& s, const ArchWeights& w, double* head, int pos) {
  const int rot = s.rope_dim > 0 ? s.rope_dim : s.head_dim;
  const bool neox = s.arch != "llama";
  const double scale = s.rope_scale > 0 ? 1.0 / s.rope_scale : 1.0;
  for (int i = 0; i < rot / 2; ++i) {
    double freq = std::pow(static_cast<double>(s.rope_theta), -2.0 * i / rot);
    if (s.freq_factors) freq /= w.t.at("rope_freqs.weight")[static_cast<size_t>(i)];
    const double angle = pos * scale * freq;
    const int a = neox ? i : 2 * i, b = neox ? i + rot / 2 : 2 * i + 1;
    const double x0 = head[a], x1 = head[b];
    head[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
    head[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
  }
}

// Logits of every position, [n][vocab].
std::vector<float> reference_forward(const ArchSpec& s, const ArchWeights& w, const std::vector<int32_t>& ids) {
  const size_t n = ids.size(), hd = static_cast<size_t>(s.head_dim), dim = static_cast<size_t>(s.dim);
  const int group = s.heads / s.kv_heads;
  std::vector<Vec> x(n), keys(n), values(n);
  for (size_t t = 0; t < n; ++t) {
    const auto& e = w.t.at("token_embd.weight");
    x[t].assign(e.begin() + static_cast<long>(ids[t] * dim), e.begin() + static_cast<long>((ids[t] + 1) * dim));
  }
  std::vector<float> logits;
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    std::vector<Vec> q(n);
    for (size_t t = 0; t < n; ++t) {
      const Vec h = rmsnorm(x[t], w.t.at(p + "attn_norm.weight"), 0, dim, 1e-6);
      q[t] = matvec(w, p + "attn_q.weight", h);
      keys[t] = matvec(w, p + "attn_k.weight", h);
      values[t] = matvec(w, p + "attn_v.weight", h);
      if (s.biases) {
        for (size_t i = 0; i < q[t].size(); ++i) q[t][i] += w.t.at(p + "attn_q.bias")[i];
        for (size_t i = 0; i < keys[t].size(); ++i) keys[t][i] += w.t.at(p + "attn_k.bias")[i];
        for (size_t i = 0; i < values[t].size(); ++i) values[t][i] += w.t.at(p + "attn_v.bias")[i];
      }
      for (int h = 0; h < s.heads; ++h) {
        if (s.arch == "qwen3") {
          const Vec nq = rmsnorm(q[t], w.t.at(p + "attn_q_norm.weight"), h * hd, hd, 1e-6);
          std::copy(nq.begin(), nq.end(), q[t].begin() + static_cast<long>(h * hd));
        }
        rotate(s, w, q[t].data() + h * hd, static_cast<int>(t));
      }
      for (int h = 0; h < s.kv_heads; ++h) {
        if (s.arch == "qwen3") {
          const Vec nk = rmsnorm(keys[t], w.t.at(p + "attn_k_norm.weight"), h * hd, hd, 1e-6);
          std::copy(nk.begin(), nk.end(), keys[t].begin() + static_cast<long>(h * hd));
        }
        rotate(s, w, keys[t].data() + h * hd, static_cast<int>(t));
      }
    }
    for (size_t t = 0; t < n; ++t) {
      Vec att(static_cast<size_t>(s.heads) * hd, 0.0);
      for (int h = 0; h < s.heads; ++h) {
        const size_t kvh = static_cast<size_t>(h / group);
        Vec score(t + 1);
        double mx = -1e300;
        for (size_t j = 0; j <= t; ++j) {
          double d = 0;
          for (size_t i = 0; i < hd; ++i) d += q[t][h * hd + i] * keys[j][kvh * hd + i];
          score[j] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, score[j]);
        }
        double sum = 0;
        for (double& v : score) sum += (v = std::exp(v - mx));
        for (size_t j = 0; j <= t; ++j) {
          for (size_t i = 0; i < hd; ++i) att[h * hd + i] += score[j] / sum * values[j][kvh * hd + i];
        }
      }
      const Vec o = matvec(w, p + "attn_output.weight", att);
      for (size_t i = 0; i < dim; ++i) x[t][i] += o[i];
      const Vec h2 = rmsnorm(x[t], w.t.at(p + "ffn_norm.weight"), 0, dim, 1e-6);
      Vec gate = matvec(w, p + "ffn_gate.weight", h2);
      const Vec up = matvec(w, p + "ffn_up.weight", h2);
      for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      const Vec down = matvec(w, p + "ffn_down.weight", gate);
      for (size_t i = 0; i < dim; ++i) x[t][i] += down[i];
    }
  }
  for (size_t t = 0; t < n; ++t) {
    const Vec h = rmsnorm(x[t], w.t.at("output_norm.weight"), 0, dim, 1e-6);
    const Vec out = matvec(w, s.tied ? "token_embd.weight" : "output.weight", h);
    for (double v : out) logits.push_back(static_cast<float>(v));
  }
  return logits;
}

std::vector<int32_t> test_ids(int vocab, size_t n) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>((i * 7919 + 13) % static_cast<size_t>(vocab)));
  return ids;
}

struct ArchCase {
  const char* label;
  ArchSpec spec;
};

class ArchForward : public ::testing::TestWithParam<ArchCase> {};

TEST_P(ArchForward, MatchesIndependentScalarForward) {
  const ArchSpec& s = GetParam().spec;
  const ArchWeights w = testing::make_arch_weights(s);
  testing::TempDir dir;
  const std::string path = dir.path() + "/model.gguf";
  ASSERT_TRUE(testing::arch_gguf(s, w).write(path).ok());
  LoadOptions o;
  o.model_path = path;
  o.require_tokenizer = false;
  auto m = LlamaModel::load(o);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ((*m)->config().architecture, s.arch);
  const std::vector<int32_t> ids = test_ids(s.vocab, 40);
  const std::vector<float> want = reference_forward(s, w, ids);
  // The reference keeps keys and values in double precision: compare with the
  // F32 cache, so the bars measure the forward pass, not fp16 KV storage.
  for (int batch : {40, 7}) {  // one batch (BLAS attention) and several (the decode path)
    Session session(*m, {.n_threads = 2, .batch_size = batch, .kv_type = kv::KvType::kF32});
    std::vector<float> got;
    ASSERT_TRUE(session.forward(ids, LogitsMode::kAll, &got).ok());
    const eval::LogitAgreement a = eval::compare_logits(want, got, static_cast<size_t>(s.vocab));
    EXPECT_LE(a.kl, 1e-4) << "batch " << batch;
    EXPECT_LE(a.max_kl, 1e-3) << "batch " << batch;
    EXPECT_EQ(a.top1_agreement, 1.0) << "batch " << batch;
    EXPECT_LT(a.max_abs_diff, 1e-2) << "batch " << batch;
  }
}

ArchSpec spec(const std::string& arch) {
  ArchSpec s;
  s.arch = arch;
  return s;
}

ArchSpec with(ArchSpec s, auto fn) {
  fn(s);
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Architectures, ArchForward,
    ::testing::Values(
        // Qwen3-shaped: heads wider than dim / n_heads (q_dim 128 > dim 64), q/k norm, NeoX, tied output.
        ArchCase{"qwen3", with(spec("qwen3"), [](ArchSpec& s) { s.head_dim = 32; s.tied = true; s.rope_theta = 1e6f; })},
        ArchCase{"qwen2", with(spec("qwen2"), [](ArchSpec& s) { s.biases = true; })},
        ArchCase{"llama3_factors", with(spec("llama"), [](ArchSpec& s) { s.freq_factors = true; s.rope_theta = 5e5f; })},
        ArchCase{"llama_linear_partial",
                 with(spec("llama"), [](ArchSpec& s) { s.rope_scale = 4.0f; s.rope_dim = 8; })},
        ArchCase{"llama_plain", spec("llama")}),
    [](const ::testing::TestParamInfo<ArchCase>& info) { return std::string(info.param.label); });

TEST(ArchErrors, UnknownArchitectureIsNamed) {
  ArchSpec s = spec("llama");
  testing::ArchWeights w = testing::make_arch_weights(s);
  model::GgufWriter g;
  s.arch = "gemma2";
  testing::add_arch_metadata(s, &g);
  for (const auto& [name, values] : w.t) ASSERT_TRUE(g.add_f32_tensor(name, w.dims.at(name), values).ok());
  const auto bytes = g.serialize();
  auto r = parse_gguf(bytes.data(), bytes.size(), nullptr, "gemma.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(r.status().message().find("'gemma2'"), std::string::npos) << r.status().message();
}

TEST(ArchErrors, UnsupportedRopeScalingIsNamed) {
  ArchSpec s = spec("llama");
  testing::ArchWeights w = testing::make_arch_weights(s);
  model::GgufWriter g = testing::arch_gguf(s, w);
  g.add_string("llama.rope.scaling.type", "yarn");
  const auto bytes = g.serialize();
  auto r = parse_gguf(bytes.data(), bytes.size(), nullptr, "yarn.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(r.status().message().find("'yarn'"), std::string::npos) << r.status().message();
}

TEST(ArchErrors, Qwen3WithoutQkNormIsRefused) {
  ArchSpec s = spec("qwen3");
  testing::ArchWeights w = testing::make_arch_weights(s);
  w.t.erase("blk.1.attn_k_norm.weight");
  w.dims.erase("blk.1.attn_k_norm.weight");
  testing::TempDir dir;
  const std::string path = dir.path() + "/q3.gguf";
  ASSERT_TRUE(testing::arch_gguf(s, w).write(path).ok());
  auto m = LlamaModel::load({.model_path = path, .tokenizer_path = "", .require_tokenizer = false});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("blk.1.attn_k_norm.weight"), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace kvforge::model

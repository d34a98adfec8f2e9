// The forward pass's steps over a batch of rows (forward_scratch.h).
#include "model/forward_scratch.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "kvforge/core/activation_rounding.h"
#include "kvforge/core/kernels.h"
#include "kvforge/core/packed_q4_0.h"
#include "kvforge/core/rope.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::model {

namespace {

// rows[t] += bias for each of n rows of `width` floats; no-op without a bias.
void add_bias(const TensorRef* bias, float* rows, size_t n, size_t width) {
  if (bias == nullptr) return;
  const float* b = reinterpret_cast<const float*>(bias->data);
  for (size_t t = 0; t < n; ++t) core::axpy_f32(1.0f, b, rows + t * width, width);
}

// The input of a product with `weight_type` as llama.cpp's dot products see it
// (core/activation_rounding.h): `in` itself for F32 weights, else a rounded copy.
// A prefill batch is rounded on every thread (rows are independent).
const float* rounded_input(core::TensorType weight_type, const float* in, size_t n, size_t cols,
                           std::vector<float>* buf, core::ThreadPool* pool) {
  const core::ActivationType a = core::activation_type_for(weight_type);
  if (a == core::ActivationType::kF32) return in;
  if (buf->size() < n * cols) buf->resize(n * cols);
  float* out = buf->data();
  const auto round_rows = [&](size_t t0, size_t t1) {
    core::round_activations(a, in + t0 * cols, out + t0 * cols, (t1 - t0) * cols);
  };
  if (pool == nullptr || n < 4) {
    round_rows(0, n);
  } else {
    pool->parallel_for(n, round_rows);
  }
  return out;
}

// out = W . in for n tokens, on activations rounded as llama.cpp rounds them;
// q8_1 activations also carry their block sums (see activation_rounding.h).
void product(const TensorRef& w, const float* in, size_t n, float* out, core::ThreadPool* pool,
             std::vector<float>* buf) {
  const size_t rows = static_cast<size_t>(w.rows()), cols = static_cast<size_t>(w.cols());
  const float* x = rounded_input(w.type, in, n, cols, buf, pool);
  if (w.packed_q4_0x8 != nullptr) {
    core::matmul_q4_0x8(w.packed_q4_0x8, rows, cols, x, n, out, pool);
  } else {
    core::matmul(w.type, w.data, rows, cols, x, n, out, pool);
  }
  if (core::activation_type_for(w.type) != core::ActivationType::kQ8_1) return;
  thread_local std::vector<float> residual;
  residual.resize(n * cols / 32);
  for (size_t t = 0; t < n; ++t) core::q8_1_sum_residuals(in + t * cols, residual.data() + t * cols / 32, cols);
  core::add_block_min_residuals(w.type, w.data, rows, cols, residual.data(), n, out);
}

// RMSNorm of each of n_heads consecutive heads (qwen3's q/k norm).
void head_norm(const TensorRef* weight, float* x, size_t n_heads, size_t head_dim, float eps) {
  if (weight == nullptr) return;
  const float* w = reinterpret_cast<const float*>(weight->data);
  for (size_t h = 0; h < n_heads; ++h) core::rmsnorm_f32(x + h * head_dim, x + h * head_dim, w, head_dim, eps);
}

// Per-token work outside the matrix products, split across the pool for a
// batch (serial, it held 2-thread prefill well under twice 1-thread speed).
void for_tokens(core::ThreadPool* pool, size_t n, const std::function<void(size_t, size_t)>& fn) {
  if (pool == nullptr || n < 4) {
    fn(0, n);
  } else {
    pool->parallel_for(n, fn);
  }
}

}  // namespace

void ForwardScratch::ensure(const ModelConfig& c, size_t n) {
  if (n <= capacity) return;
  capacity = n;
  const size_t q_dim = size_t(c.n_heads) * c.head_dim, kv_dim = size_t(c.n_kv_heads) * c.head_dim;
  x.resize(n * c.dim);
  xb.resize(n * std::max<size_t>(c.dim, q_dim));
  xb2.resize(n * c.dim);
  q.resize(n * q_dim);
  k.resize(n * kv_dim);
  v.resize(n * kv_dim);
  att.resize(n * q_dim);
  hb.resize(n * c.hidden_dim);
  hb2.resize(n * c.hidden_dim);
  positions.resize(n);
}

void ForwardScratch::embed(const LlamaModel& M, const int32_t* tokens, size_t n) {
  const ModelConfig& c = M.config();
  const size_t dim = c.dim;
  const TensorRef& emb = M.token_embd();
  const size_t emb_row = emb.nbytes / static_cast<size_t>(c.vocab_size);
  for (size_t t = 0; t < n; ++t) {
    core::dequantize_row(emb.type, emb.data + static_cast<size_t>(tokens[t]) * emb_row, x.data() + t * dim, dim);
  }
}

void ForwardScratch::number(size_t begin, size_t n, int32_t first) {
  for (size_t t = 0; t < n; ++t) positions[begin + t] = first + static_cast<int32_t>(t);
}

void ForwardScratch::norm(const ModelConfig& c, const TensorRef* w, float* out, size_t n, core::ThreadPool* pool) {
  const size_t dim = c.dim;
  const float* weight = reinterpret_cast<const float*>(w->data);
  for_tokens(pool, n, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) core::rmsnorm_f32(out + t * dim, x.data() + t * dim, weight, dim, c.rms_eps);
  });
}

void ForwardScratch::add_residual(size_t dim, size_t n, core::ThreadPool* pool) {
  for_tokens(pool, n, [&](size_t t0, size_t t1) {
    for (size_t i = t0 * dim; i < t1 * dim; ++i) x[i] += xb2[i];
  });
}

// Each token's k heads, and q heads with `queries`, rotated by one set of
// angles (per thread).
void ForwardScratch::rotate(const LlamaModel& M, size_t n, bool queries, core::ThreadPool* pool) {
  const ModelConfig& c = M.config();
  const size_t q_dim = size_t(c.n_heads) * c.head_dim, kv_dim = size_t(c.n_kv_heads) * c.head_dim;
  const bool plain_rope = M.rope_runs_as_run_c();
  const core::RopeParams rope{c.rotary_dim(), c.rope_theta, c.rope_freq_scale, M.rope_freq_factors(),
                              c.rope_style == ModelConfig::RopeStyle::kNeox};
  for_tokens(pool, n, [&](size_t t0, size_t t1) {
    thread_local std::vector<float> angles;
    angles.resize(static_cast<size_t>(c.rotary_dim()));
    for (size_t t = t0; t < t1; ++t) {
      float* qt = q.data() + t * q_dim;
      float* kt = k.data() + t * kv_dim;
      if (plain_rope) {
        if (queries) core::rope_f32(qt, c.n_heads, c.head_dim, positions[t], c.rope_theta);
        core::rope_f32(kt, c.n_kv_heads, c.head_dim, positions[t], c.rope_theta);
        continue;
      }
      core::rope_angles(positions[t], rope, angles.data());
      if (queries) core::rope_apply(qt, c.n_heads, c.head_dim, rope, angles.data());
      core::rope_apply(kt, c.n_kv_heads, c.head_dim, rope, angles.data());
    }
  });
}

// k of the batch before RoPE, from xb = RMSNorm(x): product, bias, head norm.
// forward() and layer0_keys() share it, so a recomputed key is the cached one.
void ForwardScratch::unrotated_keys(const ModelConfig& c, const LlamaModel::Layer& L, size_t n,
                                    core::ThreadPool* pool) {
  product(*L.wk, xb.data(), n, k.data(), pool, &act);
  add_bias(L.bk, k.data(), n, size_t(c.n_kv_heads) * c.head_dim);
  head_norm(L.k_norm, k.data(), n * c.n_kv_heads, c.head_dim, c.rms_eps);
}

// q, k, v of the batch: RMSNorm, products, biases, q/k head norms, RoPE.
void ForwardScratch::project_qkv(const LlamaModel& M, const LlamaModel::Layer& L, size_t n, core::ThreadPool* pool) {
  const ModelConfig& c = M.config();
  const size_t hd = c.head_dim;
  const size_t q_dim = size_t(c.n_heads) * hd, kv_dim = size_t(c.n_kv_heads) * hd;
  norm(c, L.attn_norm, xb.data(), n, pool);
  product(*L.wq, xb.data(), n, q.data(), pool, &act);
  product(*L.wv, xb.data(), n, v.data(), pool, &act);
  add_bias(L.bq, q.data(), n, q_dim);
  add_bias(L.bv, v.data(), n, kv_dim);
  head_norm(L.q_norm, q.data(), n * c.n_heads, hd, c.rms_eps);
  unrotated_keys(c, L, n, pool);
  rotate(M, n, /*queries=*/true, pool);
}

void ForwardScratch::project_k(const LlamaModel& M, const LlamaModel::Layer& L, size_t n, core::ThreadPool* pool) {
  norm(M.config(), L.attn_norm, xb.data(), n, pool);
  unrotated_keys(M.config(), L, n, pool);
  rotate(M, n, /*queries=*/false, pool);
}

// Each sequence's keys and values into its cache, then its queries over it: a
// sequence sees only its own cache, whatever else shares the batch.
void ForwardScratch::attend(const ModelConfig& c, int layer, std::span<const SequenceRows> sequences,
                            core::ThreadPool* pool) {
  const size_t hd = c.head_dim, q_dim = size_t(c.n_heads) * hd, kv_dim = size_t(c.n_kv_heads) * hd;
  for (const SequenceRows& s : sequences) {
    for (size_t t = s.begin; t < s.begin + s.n; ++t) {  // the cache is filled in order, on one thread
      for (int h = 0; h < c.n_kv_heads; ++h) {
        s.cache->head(layer, h).append(positions[t], k.data() + t * kv_dim + h * hd, v.data() + t * kv_dim + h * hd);
      }
    }
    const kv::KvView view{s.cache, s.selector, s.observer};
    const kv::AttentionBatch ab{layer, c.n_heads, s.n, positions.data() + s.begin, q.data() + s.begin * q_dim,
                                att.data() + s.begin * q_dim};
    kv::attend(view, ab, pool);
  }
}

// x += attention output projection of att.
void ForwardScratch::attention_output(const ModelConfig& c, const LlamaModel::Layer& L, size_t n,
                                      core::ThreadPool* pool) {
  product(*L.wo, att.data(), n, xb2.data(), pool, &act);
  add_residual(c.dim, n, pool);
}

// x += SwiGLU feed-forward of RMSNorm(x).
void ForwardScratch::feed_forward(const ModelConfig& c, const LlamaModel::Layer& L, size_t n, core::ThreadPool* pool) {
  const size_t hidden = c.hidden_dim;
  norm(c, L.ffn_norm, xb.data(), n, pool);
  product(*L.w_gate, xb.data(), n, hb.data(), pool, &act);
  product(*L.w_up, xb.data(), n, hb2.data(), pool, &act);
  for_tokens(pool, n, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) core::silu_mul_f32(hb.data() + t * hidden, hb2.data() + t * hidden, hidden);
  });
  product(*L.w_down, hb.data(), n, xb2.data(), pool, &act);
  add_residual(c.dim, n, pool);
}

void ForwardScratch::run_layers(const LlamaModel& M, std::span<const SequenceRows> sequences, size_t n,
                                core::ThreadPool* pool) {
  const ModelConfig& c = M.config();
  for (int l = 0; l < c.n_layers; ++l) {
    const LlamaModel::Layer& L = M.layers()[l];
    project_qkv(M, L, n, pool);
    attend(c, l, sequences, pool);
    attention_output(c, L, n, pool);
    feed_forward(c, L, n, pool);
  }
  for (const SequenceRows& s : sequences) {
    s.cache->set_next_position(s.cache->next_position() + static_cast<int32_t>(s.n));
  }
}

void ForwardScratch::output_logits(const LlamaModel& M, size_t n, LogitsMode mode, float* logits,
                                   core::ThreadPool* pool) {
  const ModelConfig& c = M.config();
  const size_t dim = c.dim;
  const float* fnorm = reinterpret_cast<const float*>(M.output_norm().data);
  const TensorRef& out = M.output();
  if (mode == LogitsMode::kLast) {
    core::rmsnorm_f32(xb.data(), x.data() + (n - 1) * dim, fnorm, dim, c.rms_eps);
    product(out, xb.data(), 1, logits, pool, &act);
    return;
  }
  for (size_t t = 0; t < n; ++t) core::rmsnorm_f32(xb.data() + t * dim, x.data() + t * dim, fnorm, dim, c.rms_eps);
  product(out, xb.data(), n, logits, pool, &act);
}

}  // namespace kvforge::model

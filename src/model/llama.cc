#include "kvforge/model/llama.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>
#include <string>

#include <xxhash.h>

#include "kvforge/core/activation_rounding.h"
#include "kvforge/core/kernels.h"
#include "kvforge/core/packed_q4_0.h"
#include "kvforge/core/rope.h"
#include "kvforge/core/thread_pool.h"
#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/llama2c_reader.h"

namespace kvforge::model {

namespace {

std::string shape_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// Looks up a tensor and checks its GGML-order shape.
Result<const TensorRef*> require(const ModelFile& f, const std::string& name, std::vector<int64_t> dims) {
  const TensorRef* t = f.find(name);
  if (t == nullptr) return Status::InvalidArgument(f.path + ": missing tensor " + name);
  if (t->dims != dims) {
    return Status::InvalidArgument(f.path + ": tensor " + name + " has shape " + shape_string(t->dims) +
                                   ", expected " + shape_string(dims));
  }
  auto row = core::tensor_row_bytes(t->type, t->cols());
  if (!row.ok()) return row.status().with_context(f.path + ": tensor " + name);
  if (*row * static_cast<size_t>(t->rows()) != t->nbytes) {
    return Status::Corruption(f.path + ": tensor " + name + " holds " + std::to_string(t->nbytes) +
                              " bytes, its shape and type need " + std::to_string(*row * t->rows()));
  }
  return t;
}

Status require_f32(const ModelFile& f, const TensorRef* t) {
  if (t->type != core::TensorType::kF32) {
    return Status::NotSupported(f.path + ": norm tensor " + t->name + " is " +
                                std::string(core::tensor_type_name(t->type)) + "; norms must be F32");
  }
  return Status::OK();
}

size_t matrix_bytes(const TensorRef* t) { return t->nbytes; }

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

uint64_t fingerprint_of(const ModelFile& f) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  const ModelConfig& c = f.config;
  const int32_t ints[] = {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.vocab_size};
  XXH3_64bits_update(state, ints, sizeof ints);
  XXH3_64bits_update(state, &c.rms_eps, sizeof c.rms_eps);
  XXH3_64bits_update(state, &c.rope_theta, sizeof c.rope_theta);
  for (const TensorRef& t : f.tensors) {
    XXH3_64bits_update(state, t.name.data(), t.name.size());
    const uint32_t type = static_cast<uint32_t>(t.type);
    XXH3_64bits_update(state, &type, sizeof type);
    XXH3_64bits_update(state, t.dims.data(), t.dims.size() * sizeof(int64_t));
    XXH3_64bits_update(state, t.data, t.nbytes);
  }
  // Only non-default rotations are hashed, so files that predate these fields keep their fingerprint.
  if (c.rope_style != ModelConfig::RopeStyle::kAdjacentPairs || c.rope_dim != 0 || c.rope_freq_scale != 1.0f) {
    const float rope[] = {static_cast<float>(c.rope_style), static_cast<float>(c.rope_dim), c.rope_freq_scale};
    XXH3_64bits_update(state, rope, sizeof rope);
  }
  const uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return h;
}

}  // namespace

Status LlamaModel::bind_tensors() {
  const ModelConfig& c = file_.config;
  KVF_RETURN_IF_ERROR(validate_config(c));
  const int64_t dim = c.dim, hd = c.head_dim, q_dim = int64_t{c.n_heads} * hd, kv_dim = int64_t{c.n_kv_heads} * hd;
  KVF_ASSIGN_OR_RETURN(token_embd_, require(file_, "token_embd.weight", {dim, c.vocab_size}));
  KVF_ASSIGN_OR_RETURN(output_norm_, require(file_, "output_norm.weight", {dim}));
  KVF_RETURN_IF_ERROR(require_f32(file_, output_norm_));
  if (file_.find("output.weight") != nullptr) {
    KVF_ASSIGN_OR_RETURN(output_, require(file_, "output.weight", {dim, c.vocab_size}));
  } else {
    output_ = token_embd_;
  }
  layers_.clear();
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Layer L{};
    KVF_ASSIGN_OR_RETURN(L.attn_norm, require(file_, p + "attn_norm.weight", {dim}));
    KVF_ASSIGN_OR_RETURN(L.ffn_norm, require(file_, p + "ffn_norm.weight", {dim}));
    KVF_RETURN_IF_ERROR(require_f32(file_, L.attn_norm));
    KVF_RETURN_IF_ERROR(require_f32(file_, L.ffn_norm));
    KVF_ASSIGN_OR_RETURN(L.wq, require(file_, p + "attn_q.weight", {dim, q_dim}));
    KVF_ASSIGN_OR_RETURN(L.wk, require(file_, p + "attn_k.weight", {dim, kv_dim}));
    KVF_ASSIGN_OR_RETURN(L.wv, require(file_, p + "attn_v.weight", {dim, kv_dim}));
    KVF_ASSIGN_OR_RETURN(L.wo, require(file_, p + "attn_output.weight", {q_dim, dim}));
    KVF_ASSIGN_OR_RETURN(L.w_gate, require(file_, p + "ffn_gate.weight", {dim, c.hidden_dim}));
    KVF_ASSIGN_OR_RETURN(L.w_up, require(file_, p + "ffn_up.weight", {dim, c.hidden_dim}));
    KVF_ASSIGN_OR_RETURN(L.w_down, require(file_, p + "ffn_down.weight", {c.hidden_dim, dim}));
    KVF_RETURN_IF_ERROR(bind_arch_tensors(p, &L));
    layers_.push_back(L);
  }
  rope_freqs_ = nullptr;
  if (file_.find("rope_freqs.weight") != nullptr) {
    KVF_ASSIGN_OR_RETURN(const TensorRef* f, require(file_, "rope_freqs.weight", {c.rotary_dim() / 2}));
    KVF_RETURN_IF_ERROR(require_f32(file_, f));
    rope_freqs_ = reinterpret_cast<const float*>(f->data);
  }
  return Status::OK();
}

// Optional tensors are bound only for the architecture that defines them, so a
// stray tensor never changes what a llama file computes.
Status LlamaModel::bind_arch_tensors(const std::string& p, Layer* L) {
  const ModelConfig& c = file_.config;
  const int64_t hd = c.head_dim, q_dim = int64_t{c.n_heads} * hd, kv_dim = int64_t{c.n_kv_heads} * hd;
  auto optional_f32 = [&](const std::string& name, int64_t n, const TensorRef** out) -> Status {
    if (file_.find(name) == nullptr) return Status::OK();
    KVF_ASSIGN_OR_RETURN(*out, require(file_, name, {n}));
    return require_f32(file_, *out);
  };
  if (c.architecture == "qwen2" || c.architecture == "llama") {  // llama.cpp reads optional biases for both
    KVF_RETURN_IF_ERROR(optional_f32(p + "attn_q.bias", q_dim, &L->bq));
    KVF_RETURN_IF_ERROR(optional_f32(p + "attn_k.bias", kv_dim, &L->bk));
    KVF_RETURN_IF_ERROR(optional_f32(p + "attn_v.bias", kv_dim, &L->bv));
  }
  if (c.architecture == "qwen3") {
    KVF_ASSIGN_OR_RETURN(L->q_norm, require(file_, p + "attn_q_norm.weight", {hd}));
    KVF_ASSIGN_OR_RETURN(L->k_norm, require(file_, p + "attn_k_norm.weight", {hd}));
    KVF_RETURN_IF_ERROR(require_f32(file_, L->q_norm));
    KVF_RETURN_IF_ERROR(require_f32(file_, L->k_norm));
  }
  return Status::OK();
}

bool LlamaModel::rope_is_plain() const {
  const ModelConfig& c = config();
  return c.rope_style == ModelConfig::RopeStyle::kAdjacentPairs && c.rotary_dim() == c.head_dim &&
         c.rope_freq_scale == 1.0f && rope_freqs_ == nullptr;
}

bool LlamaModel::rope_runs_as_run_c() const {
  // GGUF files rotate with ggml's angles (by repeated multiplication), which
  // brings their logits closer to llama.cpp's (peer-test files: BF16 KL 3.5e-5
  // -> 1.3e-5, Q8_0 4.4e-4 -> 4.0e-4); llama2.c checkpoints keep run.c's powf.
  return rope_is_plain() && file_.format.rfind("llama2.c", 0) == 0;
}

// Q4_0 matrices are repacked once, where the CPU has the packed kernels: the
// copy costs the matrices' bytes again, and the file's pages of those tensors
// are not read after this (clean, file-backed: the kernel may reclaim them).
void LlamaModel::pack_weights() {
  if (!core::packed_q4_0_available()) return;
  std::set<const TensorRef*> matrices = {output_};
  for (const Layer& L : layers_) matrices.insert({L.wq, L.wk, L.wv, L.wo, L.w_gate, L.w_up, L.w_down});
  for (TensorRef& t : file_.tensors) {
    const size_t rows = static_cast<size_t>(t.rows()), cols = static_cast<size_t>(t.cols());
    if (matrices.count(&t) == 0 || !core::can_pack_q4_0(t.type, rows, cols)) continue;
    std::vector<uint8_t>& buf = packed_.emplace_back(t.nbytes);
    core::pack_q4_0x8(t.data, rows, cols, buf.data());
    t.packed_q4_0x8 = buf.data();
  }
}

Result<std::shared_ptr<const LlamaModel>> LlamaModel::from_file(ModelFile file, std::optional<Tokenizer> tokenizer) {
  std::shared_ptr<LlamaModel> m(new LlamaModel());
  m->file_ = std::move(file);
  if (tokenizer && tokenizer->vocab_size() != m->file_.config.vocab_size) {
    return Status::InvalidArgument("tokenizer/model vocabulary mismatch: the tokenizer has " +
                                   std::to_string(tokenizer->vocab_size()) + " tokens but the model's vocabulary is " +
                                   std::to_string(m->file_.config.vocab_size));
  }
  m->tokenizer_ = std::move(tokenizer);
  KVF_RETURN_IF_ERROR(m->bind_tensors());
  m->fingerprint_ = fingerprint_of(m->file_);
  m->pack_weights();
  return std::shared_ptr<const LlamaModel>(std::move(m));
}

Result<std::shared_ptr<const LlamaModel>> LlamaModel::load(const LoadOptions& options) {
  KVF_ASSIGN_OR_RETURN(ModelFile file, read_model_file(options.model_path));
  std::optional<Vocab> vocab;
  if (!options.tokenizer_path.empty()) {
    KVF_ASSIGN_OR_RETURN(vocab, read_llama2c_tokenizer(options.tokenizer_path, file.config.vocab_size));
  } else if (file.vocab) {
    vocab = *file.vocab;
  } else if (options.require_tokenizer) {
    return Status::InvalidArgument(options.model_path + " (" + file.format +
                                   ") carries no vocabulary: pass its tokenizer.bin with --tokenizer");
  }
  std::optional<Tokenizer> tokenizer;
  if (vocab) {
    KVF_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::create(std::move(*vocab)));
    tokenizer = std::move(tok);
  }
  return from_file(std::move(file), std::move(tokenizer));
}

kv::KvShape LlamaModel::kv_shape() const {
  return kv::KvShape{config().n_layers, config().n_kv_heads, config().head_dim};
}

size_t LlamaModel::weight_bytes_per_token() const {
  size_t n = 0;
  for (const Layer& L : layers_) {
    n += matrix_bytes(L.wq) + matrix_bytes(L.wk) + matrix_bytes(L.wv) + matrix_bytes(L.wo) +
         matrix_bytes(L.w_gate) + matrix_bytes(L.w_up) + matrix_bytes(L.w_down) + L.attn_norm->nbytes +
         L.ffn_norm->nbytes;
  }
  n += output_->nbytes + output_norm_->nbytes;
  n += token_embd_->nbytes / static_cast<size_t>(config().vocab_size);  // one embedding row
  return n;
}

size_t LlamaModel::weight_bytes_total() const {
  size_t n = 0;
  for (const TensorRef& t : file_.tensors) n += t.nbytes;
  return n;
}

// ---------------------------------------------------------------------------

struct Session::Scratch {
  size_t capacity = 0;
  std::vector<float> x, xb, xb2, q, k, v, att, hb, hb2;
  std::vector<int32_t> positions;
  std::vector<float> act;  // activations rounded to a weight type's vec_dot_type

  void ensure(const ModelConfig& c, size_t n) {
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
};

Session::Session(std::shared_ptr<const LlamaModel> model, SessionOptions options)
    : model_(std::move(model)),
      options_(options),
      max_positions_(options.max_positions > 0 ? options.max_positions : model_->config().context_length),
      cache_(model_->kv_shape(), options.kv_type),
      pool_(std::make_unique<core::ThreadPool>(std::max(1, options.n_threads))),
      scratch_(std::make_unique<Scratch>()) {
  if (options_.batch_size < 1) options_.batch_size = 1;
}

Session::~Session() = default;

Status Session::forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits) {
  const ModelConfig& c = model_->config();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size) {
      return Status::InvalidArgument("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                     " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    }
  }
  const int64_t last = int64_t{next_position()} + static_cast<int64_t>(tokens.size());
  if (last > max_positions_) {
    return Status::OutOfRange("positions up to " + std::to_string(last) + " exceed the limit of " +
                              std::to_string(max_positions_) + " (the model's context length or --window)");
  }
  if (mode != LogitsMode::kNone && logits == nullptr) return Status::InvalidArgument("logits requested without a buffer");
  if (tokens.empty()) {
    if (logits) logits->clear();
    return Status::OK();
  }
  const size_t vocab = static_cast<size_t>(c.vocab_size);
  if (mode == LogitsMode::kAll) logits->resize(tokens.size() * vocab);
  if (mode == LogitsMode::kLast) logits->resize(vocab);
  const size_t batch = static_cast<size_t>(options_.batch_size);
  for (size_t start = 0; start < tokens.size(); start += batch) {
    const size_t n = std::min(batch, tokens.size() - start);
    const bool is_last_batch = start + n == tokens.size();
    LogitsMode m = mode;
    float* out = nullptr;
    if (mode == LogitsMode::kAll) out = logits->data() + start * vocab;
    if (mode == LogitsMode::kLast) {
      m = is_last_batch ? LogitsMode::kLast : LogitsMode::kNone;
      out = logits->data();
    }
    forward_batch(tokens.data() + start, n, m, out);
  }
  return Status::OK();
}

void Session::forward_batch(const int32_t* tokens, size_t n, LogitsMode mode, float* logits) {
  const LlamaModel& M = *model_;
  const ModelConfig& c = M.config();
  Scratch& s = *scratch_;
  s.ensure(c, n);
  core::ThreadPool* pool = pool_.get();
  const size_t dim = c.dim, hd = c.head_dim, hidden = c.hidden_dim;
  const size_t q_dim = size_t(c.n_heads) * hd, kv_dim = size_t(c.n_kv_heads) * hd;

  const TensorRef& emb = M.token_embd();
  const size_t emb_row = emb.nbytes / static_cast<size_t>(c.vocab_size);
  for (size_t t = 0; t < n; ++t) {
    s.positions[t] = next_position() + static_cast<int32_t>(t);
    core::dequantize_row(emb.type, emb.data + static_cast<size_t>(tokens[t]) * emb_row, s.x.data() + t * dim, dim);
  }
  // Per-token work outside the matrix products, split across the pool for a
  // batch (serial, it held 2-thread prefill well under twice 1-thread speed).
  auto for_tokens = [&](const std::function<void(size_t, size_t)>& fn) {
    if (pool == nullptr || n < 4) {
      fn(0, n);
    } else {
      pool->parallel_for(n, fn);
    }
  };
  auto norm = [&](const TensorRef* w, float* out) {
    const float* weight = reinterpret_cast<const float*>(w->data);
    for_tokens([&](size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; ++t) core::rmsnorm_f32(out + t * dim, s.x.data() + t * dim, weight, dim, c.rms_eps);
    });
  };
  auto add_residual = [&]() {
    for_tokens([&](size_t t0, size_t t1) {
      for (size_t i = t0 * dim; i < t1 * dim; ++i) s.x[i] += s.xb2[i];
    });
  };
  auto matmul = [&](const TensorRef* w, const float* in, float* out) {
    product(*w, in, n, out, pool, &s.act);
  };
  const kv::KvView view{&cache_, selector_, observer_};
  const bool plain_rope = M.rope_runs_as_run_c();
  const core::RopeParams rope{c.rotary_dim(), c.rope_theta, c.rope_freq_scale, M.rope_freq_factors(),
                              c.rope_style == ModelConfig::RopeStyle::kNeox};
  // Each token's q and k heads rotated by one set of angles (per thread).
  auto rotate_tokens = [&](size_t t0, size_t t1) {
    thread_local std::vector<float> angles;
    angles.resize(static_cast<size_t>(c.rotary_dim()));
    for (size_t t = t0; t < t1; ++t) {
      float* q = s.q.data() + t * q_dim;
      float* k = s.k.data() + t * kv_dim;
      if (plain_rope) {
        core::rope_f32(q, c.n_heads, c.head_dim, s.positions[t], c.rope_theta);
        core::rope_f32(k, c.n_kv_heads, c.head_dim, s.positions[t], c.rope_theta);
        continue;
      }
      core::rope_angles(s.positions[t], rope, angles.data());
      core::rope_apply(q, c.n_heads, c.head_dim, rope, angles.data());
      core::rope_apply(k, c.n_kv_heads, c.head_dim, rope, angles.data());
    }
  };

  for (int l = 0; l < c.n_layers; ++l) {
    const LlamaModel::Layer& L = M.layers()[l];
    norm(L.attn_norm, s.xb.data());
    matmul(L.wq, s.xb.data(), s.q.data());
    matmul(L.wk, s.xb.data(), s.k.data());
    matmul(L.wv, s.xb.data(), s.v.data());
    add_bias(L.bq, s.q.data(), n, q_dim);
    add_bias(L.bk, s.k.data(), n, kv_dim);
    add_bias(L.bv, s.v.data(), n, kv_dim);
    head_norm(L.q_norm, s.q.data(), n * c.n_heads, hd, c.rms_eps);
    head_norm(L.k_norm, s.k.data(), n * c.n_kv_heads, hd, c.rms_eps);
    for_tokens(rotate_tokens);
    for (size_t t = 0; t < n; ++t) {  // the cache is filled in order, on one thread
      for (int h = 0; h < c.n_kv_heads; ++h) {
        cache_.head(l, h).append(s.positions[t], s.k.data() + t * kv_dim + h * hd, s.v.data() + t * kv_dim + h * hd);
      }
    }
    kv::AttentionBatch ab{l, c.n_heads, n, s.positions.data(), s.q.data(), s.att.data()};
    kv::attend(view, ab, pool);
    matmul(L.wo, s.att.data(), s.xb2.data());
    add_residual();

    norm(L.ffn_norm, s.xb.data());
    matmul(L.w_gate, s.xb.data(), s.hb.data());
    matmul(L.w_up, s.xb.data(), s.hb2.data());
    for_tokens([&](size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; ++t) core::silu_mul_f32(s.hb.data() + t * hidden, s.hb2.data() + t * hidden, hidden);
    });
    matmul(L.w_down, s.hb.data(), s.xb2.data());
    add_residual();
  }
  cache_.set_next_position(next_position() + static_cast<int32_t>(n));

  if (mode == LogitsMode::kNone) return;
  const float* fnorm = reinterpret_cast<const float*>(M.output_norm().data);
  const TensorRef& out = M.output();
  if (mode == LogitsMode::kLast) {
    core::rmsnorm_f32(s.xb.data(), s.x.data() + (n - 1) * dim, fnorm, dim, c.rms_eps);
    product(out, s.xb.data(), 1, logits, pool, &s.act);
    return;
  }
  for (size_t t = 0; t < n; ++t) core::rmsnorm_f32(s.xb.data() + t * dim, s.x.data() + t * dim, fnorm, dim, c.rms_eps);
  product(out, s.xb.data(), n, logits, pool, &s.act);
}

}  // namespace kvforge::model

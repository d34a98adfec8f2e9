#include "kvforge/model/llama.h"

#include <algorithm>
#include <set>
#include <string>

#include <xxhash.h>

#include "kvforge/core/packed_q4_0.h"
#include "kvforge/core/rope.h"
#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/llama2c_reader.h"

namespace kvforge::model {

namespace {

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

}  // namespace kvforge::model

// A loaded Llama-family model and the Session that runs it over a KV cache.
//
// LlamaModel is immutable after load and may be shared by many Sessions.
// A Session owns one KvCache, scratch buffers and a thread pool; one thread
// at a time may use it. On error a Session's cache is left as it was before
// the failing call (a forward that fails validation touches nothing).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/kv/attention.h"
#include "kvforge/kv/kv_cache.h"
#include "kvforge/kv/recompute.h"
#include "kvforge/model/model_file.h"
#include "kvforge/model/tokenizer.h"

namespace kvforge::core {
class ThreadPool;
}

namespace kvforge::model {

struct LoadOptions {
  std::string model_path;
  // llama2.c checkpoints carry no vocabulary: give their tokenizer.bin here.
  // For GGUF files it overrides the embedded vocabulary when set.
  std::string tokenizer_path;
  // A model without a vocabulary is allowed (e.g. for benchmarks) when false.
  bool require_tokenizer = true;
};

class LlamaModel {
 public:
  // Reads the model (and tokenizer), checks every tensor's presence, type and
  // shape, and that the tokenizer's vocabulary matches the model's.
  static Result<std::shared_ptr<const LlamaModel>> load(const LoadOptions& options);
  // Wraps an already parsed file (synthetic models, tests).
  static Result<std::shared_ptr<const LlamaModel>> from_file(ModelFile file, std::optional<Tokenizer> tokenizer);

  const ModelConfig& config() const { return file_.config; }
  const ModelFile& file() const { return file_; }
  // nullptr when the model has no vocabulary.
  const Tokenizer* tokenizer() const { return tokenizer_ ? &*tokenizer_ : nullptr; }
  kv::KvShape kv_shape() const;
  // Bytes of weights one decode step reads: every matrix once plus one embedding row.
  size_t weight_bytes_per_token() const;
  // A 64-bit identity of the weights (xxh3 over the configuration, tensor names,
  // types, shapes and bytes): stored KV is only valid for the model it came from.
  uint64_t fingerprint() const { return fingerprint_; }
  size_t weight_bytes_total() const;

  struct Layer {
    const TensorRef* attn_norm;
    const TensorRef* wq;
    const TensorRef* wk;
    const TensorRef* wv;
    const TensorRef* wo;
    const TensorRef* ffn_norm;
    const TensorRef* w_gate;
    const TensorRef* w_up;
    const TensorRef* w_down;
    // Architecture extras, null when absent: qwen2's projection biases and
    // qwen3's per-head RMSNorm of queries and keys (before RoPE).
    const TensorRef* bq = nullptr;
    const TensorRef* bk = nullptr;
    const TensorRef* bv = nullptr;
    const TensorRef* q_norm = nullptr;
    const TensorRef* k_norm = nullptr;
  };
  const std::vector<Layer>& layers() const { return layers_; }
  const TensorRef& token_embd() const { return *token_embd_; }
  const TensorRef& output_norm() const { return *output_norm_; }
  const TensorRef& output() const { return *output_; }
  // Llama 3's per-pair RoPE frequency factors (rope_freqs.weight), or null.
  const float* rope_freq_factors() const { return rope_freqs_; }
  // The llama2.c rotation: whole heads, adjacent pairs, no scaling or factors
  // (what the codec's key un-rotation implements).
  bool rope_is_plain() const;
  // True for a llama2.c checkpoint with a plain rotation, which runs through
  // run.c's bit-exact kernel; every other file rotates with ggml's angles.
  bool rope_runs_as_run_c() const;

 private:
  LlamaModel() = default;
  Status bind_tensors();
  void pack_weights();
  Status bind_arch_tensors(const std::string& prefix, Layer* layer);

  ModelFile file_;
  std::optional<Tokenizer> tokenizer_;
  std::vector<Layer> layers_;
  const TensorRef* token_embd_ = nullptr;
  const TensorRef* output_norm_ = nullptr;
  const TensorRef* output_ = nullptr;
  const float* rope_freqs_ = nullptr;
  uint64_t fingerprint_ = 0;
  std::vector<std::vector<uint8_t>> packed_;  // storage of TensorRef::packed_q4_0x8
};

struct SessionOptions {
  int n_threads = 1;
  // Largest number of tokens one forward batch computes at once (prefill is
  // split into batches of this size).
  int batch_size = 256;
  // Positions allowed; 0 means the model's context length.
  int max_positions = 0;
  // How the cache stores keys and values. F16, llama.cpp's default, so that
  // memory and speed figures compare with llama.cpp's; F32 where a reference
  // computed in fp32 is matched exactly (llama2.c's run.c).
  kv::KvType kv_type = kv::KvType::kF16;
};

enum class LogitsMode {
  kNone,  // only fill the cache
  kLast,  // logits of the last token: [vocab]
  kAll,   // logits of every token: [n_tokens][vocab]
};

// A Session is the kv::Recompute that stream's loader and publisher fill and
// extend: they see the cache and this interface, never the model.
class BatchDecoder;
struct ForwardScratch;

class Session : public kv::Recompute {
 public:
  Session(std::shared_ptr<const LlamaModel> model, SessionOptions options = {});
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs `tokens` at positions next_position(), next_position()+1, ... appending
  // their keys and values to the cache. InvalidArgument for a token id outside
  // the vocabulary; OutOfRange when positions would pass max_positions.
  Status forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits);
  // forward of one token with its logits.
  Status decode(int32_t token, std::vector<float>* logits) {
    return forward(std::span<const int32_t>(&token, 1), LogitsMode::kLast, logits);
  }

  kv::KvCache& cache() override { return cache_; }
  const kv::KvCache& cache() const { return cache_; }
  // Seams for eviction and retrieval; nullptr removes them. Not owned.
  void set_observer(kv::AttentionObserver* observer) { observer_ = observer; }
  void set_selector(kv::SlotSelector* selector) { selector_ = selector; }

  void reset() override { cache_.clear(); }
  int32_t next_position() const { return cache_.next_position(); }
  int max_positions() const { return max_positions_; }
  const LlamaModel& model() const { return *model_; }
  core::ThreadPool* pool() override { return pool_.get(); }
  uint64_t model_fingerprint() const override { return model_->fingerprint(); }
  Status recompute(std::span<const int32_t> tokens, std::vector<float>* last_logits) override {
    return forward(tokens, last_logits ? LogitsMode::kLast : LogitsMode::kNone, last_logits);
  }
  // Through forward()'s own embedding, RMSNorm, K projection and RoPE kernels, in
  // its batches: for the tokens and positions of a forward() call, F32 cache rows
  // equal these bit for bit (F16 rows are them rounded to fp16).
  Status layer0_keys(std::span<const int32_t> tokens, int32_t first_position, float* out) override;

 private:
  // Decodes a token of this session in a batch with others' (batch_decoder.h):
  // it checks tokens as check_batch does and runs them over cache_ with this
  // session's selector and observer.
  friend class BatchDecoder;

  // Token ids in the vocabulary and positions [first_position, + size) allowed.
  Status check_batch(std::span<const int32_t> tokens, int32_t first_position) const;
  void forward_batch(const int32_t* tokens, size_t n, LogitsMode mode, float* logits);

  std::shared_ptr<const LlamaModel> model_;
  SessionOptions options_;
  int max_positions_;
  kv::KvCache cache_;
  std::unique_ptr<core::ThreadPool> pool_;
  kv::AttentionObserver* observer_ = nullptr;
  kv::SlotSelector* selector_ = nullptr;
  std::unique_ptr<ForwardScratch> scratch_;
};

}  // namespace kvforge::model

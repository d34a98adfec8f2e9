// Session: a model's forward pass over a batch of tokens into its KV cache.
#include "kvforge/model/llama.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kvforge/core/thread_pool.h"
#include "model/forward_scratch.h"

namespace kvforge::model {

Session::Session(std::shared_ptr<const LlamaModel> model, SessionOptions options)
    : model_(std::move(model)),
      options_(options),
      max_positions_(options.max_positions > 0 ? options.max_positions : model_->config().context_length),
      cache_(model_->kv_shape(), options.kv_type),
      pool_(std::make_unique<core::ThreadPool>(std::max(1, options.n_threads))),
      scratch_(std::make_unique<ForwardScratch>()) {
  if (options_.batch_size < 1) options_.batch_size = 1;
}

Session::~Session() = default;

Status Session::check_batch(std::span<const int32_t> tokens, int32_t first_position) const {
  const ModelConfig& c = model_->config();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size) {
      return Status::InvalidArgument("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                     " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    }
  }
  const int64_t last = int64_t{first_position} + static_cast<int64_t>(tokens.size());
  if (first_position < 0 || last > max_positions_) {
    return Status::OutOfRange("positions " + std::to_string(first_position) + " up to " + std::to_string(last) +
                              " exceed the limit of " + std::to_string(max_positions_) +
                              " (the model's context length or --window)");
  }
  return Status::OK();
}

Status Session::forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits) {
  const ModelConfig& c = model_->config();
  KVF_RETURN_IF_ERROR(check_batch(tokens, next_position()));
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

Status Session::layer0_keys(std::span<const int32_t> tokens, int32_t first_position, float* out) {
  KVF_RETURN_IF_ERROR(check_batch(tokens, first_position));
  const ModelConfig& c = model_->config();
  ForwardScratch& s = *scratch_;
  const size_t hd = c.head_dim, kv_dim = size_t(c.n_kv_heads) * hd, n_tokens = tokens.size();
  // forward()'s batches, so that keys computed for a forward() call's tokens
  // take the same kernel paths and equal the cached ones to the bit.
  const size_t batch = static_cast<size_t>(options_.batch_size);
  for (size_t start = 0; start < n_tokens; start += batch) {
    const size_t n = std::min(batch, n_tokens - start);
    s.ensure(c, n);
    s.embed(*model_, tokens.data() + start, n);
    s.number(0, n, first_position + static_cast<int32_t>(start));
    s.project_k(*model_, model_->layers()[0], n, pool_.get());
    for (size_t t = 0; t < n; ++t) {
      for (int h = 0; h < c.n_kv_heads; ++h) {
        std::memcpy(out + (h * n_tokens + start + t) * hd, s.k.data() + t * kv_dim + h * hd, hd * sizeof(float));
      }
    }
  }
  return Status::OK();
}

void Session::forward_batch(const int32_t* tokens, size_t n, LogitsMode mode, float* logits) {
  const LlamaModel& M = *model_;
  ForwardScratch& s = *scratch_;
  s.ensure(M.config(), n);
  s.embed(M, tokens, n);
  s.number(0, n, next_position());
  const SequenceRows rows{&cache_, selector_, observer_, 0, n};
  s.run_layers(M, std::span<const SequenceRows>(&rows, 1), n, pool_.get());
  if (mode != LogitsMode::kNone) s.output_logits(M, n, mode, logits, pool_.get());
}

}  // namespace kvforge::model

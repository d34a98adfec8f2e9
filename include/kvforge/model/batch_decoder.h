// Continuous batching: one decode step of several sequences in one pass over
// the weights. Each sequence keeps its own Session (cache, position, selector,
// observer); the matrix products run over all of their tokens at once, so the
// weights are read once per step instead of once per sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/model/llama.h"

namespace kvforge::core {
class ThreadPool;
}

namespace kvforge::model {

class BatchDecoder {
 public:
  BatchDecoder(std::shared_ptr<const LlamaModel> model, int n_threads);
  ~BatchDecoder();
  BatchDecoder(const BatchDecoder&) = delete;
  BatchDecoder& operator=(const BatchDecoder&) = delete;

  // One decode step: tokens[i] runs in sessions[i] at its next_position(), which
  // then advances by one. Every session must use this decoder's model and appear
  // once (InvalidArgument otherwise), tokens must be in the vocabulary
  // (InvalidArgument) and each session must have room (OutOfRange, as
  // Session::forward). logits is resized to n * vocab, row i for sessions[i].
  // On error no session and no logits are touched. Sessions' own thread pools
  // are not used: the step runs on this decoder's.
  Status decode(std::span<Session* const> sessions, std::span<const int32_t> tokens, std::vector<float>* logits);

  const LlamaModel& model() const { return *model_; }

 private:
  Status check(std::span<Session* const> sessions, std::span<const int32_t> tokens,
               const std::vector<float>* logits) const;

  std::shared_ptr<const LlamaModel> model_;
  std::unique_ptr<core::ThreadPool> pool_;
  std::unique_ptr<ForwardScratch> scratch_;
};

}  // namespace kvforge::model

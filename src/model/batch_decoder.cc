// BatchDecoder: one decode step of several sessions through shared products.
#include "kvforge/model/batch_decoder.h"

#include <algorithm>
#include <string>
#include <vector>

#include "kvforge/core/thread_pool.h"
#include "model/forward_scratch.h"

namespace kvforge::model {

BatchDecoder::BatchDecoder(std::shared_ptr<const LlamaModel> model, int n_threads)
    : model_(std::move(model)),
      pool_(std::make_unique<core::ThreadPool>(std::max(1, n_threads))),
      scratch_(std::make_unique<ForwardScratch>()) {}

BatchDecoder::~BatchDecoder() = default;

Status BatchDecoder::check(std::span<Session* const> sessions, std::span<const int32_t> tokens,
                           const std::vector<float>* logits) const {
  if (logits == nullptr) return Status::InvalidArgument("batch decode without a logits buffer");
  if (sessions.size() != tokens.size()) {
    return Status::InvalidArgument("batch of " + std::to_string(sessions.size()) + " sessions and " +
                                   std::to_string(tokens.size()) + " tokens");
  }
  for (size_t i = 0; i < sessions.size(); ++i) {
    const Session* s = sessions[i];
    if (s == nullptr) return Status::InvalidArgument("session " + std::to_string(i) + " of the batch is null");
    if (s->model_.get() != model_.get()) {
      return Status::InvalidArgument("session " + std::to_string(i) + " runs another model than the decoder's");
    }
    // A session twice would append two rows at one position.
    if (std::find(sessions.begin(), sessions.begin() + static_cast<std::ptrdiff_t>(i), s) !=
        sessions.begin() + static_cast<std::ptrdiff_t>(i)) {
      return Status::InvalidArgument("session " + std::to_string(i) + " appears twice in the batch");
    }
  }
  for (size_t i = 0; i < sessions.size(); ++i) {
    const Status st = sessions[i]->check_batch(tokens.subspan(i, 1), sessions[i]->next_position());
    if (!st.ok()) return st.with_context("session " + std::to_string(i) + " of the batch");
  }
  return Status::OK();
}

Status BatchDecoder::decode(std::span<Session* const> sessions, std::span<const int32_t> tokens,
                            std::vector<float>* logits) {
  KVF_RETURN_IF_ERROR(check(sessions, tokens, logits));
  const size_t n = tokens.size();
  if (n == 0) {
    logits->clear();
    return Status::OK();
  }
  const LlamaModel& M = *model_;
  ForwardScratch& s = *scratch_;
  s.ensure(M.config(), n);
  s.embed(M, tokens.data(), n);
  std::vector<SequenceRows> rows(n);
  for (size_t i = 0; i < n; ++i) {
    Session& session = *sessions[i];
    s.number(i, 1, session.next_position());
    rows[i] = SequenceRows{&session.cache_, session.selector_, session.observer_, i, 1};
  }
  s.run_layers(M, rows, n, pool_.get());
  logits->resize(n * static_cast<size_t>(M.config().vocab_size));
  s.output_logits(M, n, LogitsMode::kAll, logits->data(), pool_.get());
  return Status::OK();
}

}  // namespace kvforge::model

#include "kvforge/eval/perplexity.h"

#include "eval/parallel_documents.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace kvforge::eval {

model::SessionOptions RunOptions::session_options() const {
  model::SessionOptions s;
  s.n_threads = std::max(1, threads_per_worker);
  s.max_positions = max_positions;
  s.kv_type = kv_type;
  return s;
}

Status run_full_cache(model::Session& session, std::span<const int32_t> tokens, std::vector<float>* logits) {
  if (tokens.size() < 2) return Status::InvalidArgument("a document needs at least two tokens to score");
  return session.forward(tokens.first(tokens.size() - 1), model::LogitsMode::kAll, logits);
}

Result<PerplexityResult> perplexity(std::shared_ptr<const model::LlamaModel> model,
                                    const std::vector<std::vector<int32_t>>& documents, const RunOptions& options,
                                    const DocumentRunner& runner) {
  const size_t vocab = static_cast<size_t>(model->config().vocab_size);
  const int workers = std::max(1, options.workers);
  std::vector<std::unique_ptr<model::Session>> sessions;
  for (int w = 0; w < workers; ++w) sessions.push_back(std::make_unique<model::Session>(model, options.session_options()));
  // One accumulator per document, merged in order, so sums do not depend on scheduling.
  std::vector<NllAccumulator> per_doc(documents.size());
  std::vector<std::vector<float>> logits(workers);
  Status s = detail::parallel_documents(
      documents.size(), workers,
      [&](int w, size_t d) {
        const auto& doc = documents[d];
        model::Session& session = *sessions[w];
        session.reset();
        KVF_RETURN_IF_ERROR(runner(session, doc, &logits[w]));
        if (logits[w].size() != (doc.size() - 1) * vocab) {
          return Status::Internal("a document runner returned the wrong number of logits");
        }
        for (size_t p = options.score_from; p + 1 < doc.size(); ++p) {
          per_doc[d].add(std::span<const float>(logits[w].data() + p * vocab, vocab), doc[p + 1]);
        }
        return Status::OK();
      },
      options.progress);
  KVF_RETURN_IF_ERROR(s);
  NllAccumulator acc;
  for (const auto& a : per_doc) acc.merge(a);
  PerplexityResult r;
  r.ppl = acc.ppl();
  r.mean_nll = acc.mean_nll();
  r.tokens = acc.tokens();
  r.documents = documents.size();
  return r;
}

Result<FidelityResult> compare_runs(std::shared_ptr<const model::LlamaModel> ref_model, const DocumentRunner& reference,
                                    std::shared_ptr<const model::LlamaModel> test_model, const DocumentRunner& test,
                                    const std::vector<std::vector<int32_t>>& documents, const RunOptions& options) {
  const size_t vocab = static_cast<size_t>(ref_model->config().vocab_size);
  if (static_cast<size_t>(test_model->config().vocab_size) != vocab) {
    return Status::InvalidArgument("the compared models have different vocabularies (" + std::to_string(vocab) +
                                   " vs " + std::to_string(test_model->config().vocab_size) + ")");
  }
  const int workers = std::max(1, options.workers);
  std::vector<std::unique_ptr<model::Session>> ref_sessions, test_sessions;
  for (int w = 0; w < workers; ++w) {
    ref_sessions.push_back(std::make_unique<model::Session>(ref_model, options.session_options()));
    test_sessions.push_back(std::make_unique<model::Session>(test_model, options.session_options()));
  }
  std::vector<FidelityAccumulator> per_doc(documents.size());
  std::vector<std::vector<float>> ref_logits(workers), test_logits(workers);
  Status s = detail::parallel_documents(
      documents.size(), workers,
      [&](int w, size_t d) {
        const auto& doc = documents[d];
        ref_sessions[w]->reset();
        KVF_RETURN_IF_ERROR(reference(*ref_sessions[w], doc, &ref_logits[w]).with_context("reference run"));
        test_sessions[w]->reset();
        KVF_RETURN_IF_ERROR(test(*test_sessions[w], doc, &test_logits[w]).with_context("test run"));
        const size_t rows = doc.size() - 1;
        if (ref_logits[w].size() != rows * vocab || test_logits[w].size() != rows * vocab) {
          return Status::Internal("a document runner returned the wrong number of logits");
        }
        for (size_t p = options.score_from; p < rows; ++p) {
          per_doc[d].add(std::span<const float>(ref_logits[w].data() + p * vocab, vocab),
                         std::span<const float>(test_logits[w].data() + p * vocab, vocab), doc[p + 1]);
        }
        return Status::OK();
      },
      options.progress);
  KVF_RETURN_IF_ERROR(s);
  FidelityAccumulator acc;
  for (const auto& a : per_doc) acc.merge(a);
  return acc.result();
}

}  // namespace kvforge::eval

#include "kvforge/eval/perplexity.h"

#include <string>

namespace kvforge::eval {

Status run_full_cache(model::Session& session, std::span<const int32_t> tokens, std::vector<float>* logits) {
  if (tokens.size() < 2) return Status::InvalidArgument("a document needs at least two tokens to score");
  KVF_RETURN_IF_ERROR(session.forward(tokens.first(tokens.size() - 1), model::LogitsMode::kAll, logits));
  return Status::OK();
}

Result<PerplexityResult> perplexity(model::Session& session, const std::vector<std::vector<int32_t>>& documents,
                                    const ProgressFn& progress) {
  const size_t vocab = static_cast<size_t>(session.model().config().vocab_size);
  NllAccumulator acc;
  std::vector<float> logits;
  for (size_t d = 0; d < documents.size(); ++d) {
    const auto& doc = documents[d];
    session.reset();
    KVF_RETURN_IF_ERROR(run_full_cache(session, doc, &logits).with_context("document " + std::to_string(d)));
    for (size_t p = 0; p + 1 < doc.size(); ++p) {
      acc.add(std::span<const float>(logits.data() + p * vocab, vocab), doc[p + 1]);
    }
    if (progress) progress(d + 1, documents.size());
  }
  PerplexityResult r;
  r.ppl = acc.ppl();
  r.mean_nll = acc.mean_nll();
  r.tokens = acc.tokens();
  r.documents = documents.size();
  return r;
}

Result<FidelityResult> compare_runs(model::Session& ref_session, const DocumentRunner& reference,
                                    model::Session& test_session, const DocumentRunner& test,
                                    const std::vector<std::vector<int32_t>>& documents, size_t score_from,
                                    const ProgressFn& progress) {
  const size_t vocab = static_cast<size_t>(ref_session.model().config().vocab_size);
  if (static_cast<size_t>(test_session.model().config().vocab_size) != vocab) {
    return Status::InvalidArgument("the compared models have different vocabularies");
  }
  FidelityAccumulator acc;
  std::vector<float> ref_logits, test_logits;
  for (size_t d = 0; d < documents.size(); ++d) {
    const auto& doc = documents[d];
    const std::string where = "document " + std::to_string(d);
    ref_session.reset();
    KVF_RETURN_IF_ERROR(reference(ref_session, doc, &ref_logits).with_context(where + " (reference run)"));
    test_session.reset();
    KVF_RETURN_IF_ERROR(test(test_session, doc, &test_logits).with_context(where + " (test run)"));
    const size_t rows = doc.size() - 1;
    if (ref_logits.size() != rows * vocab || test_logits.size() != rows * vocab) {
      return Status::Internal(where + ": a runner returned the wrong number of logits");
    }
    for (size_t p = score_from; p < rows; ++p) {
      acc.add(std::span<const float>(ref_logits.data() + p * vocab, vocab),
              std::span<const float>(test_logits.data() + p * vocab, vocab), doc[p + 1]);
    }
    if (progress) progress(d + 1, documents.size());
  }
  return acc.result();
}

}  // namespace kvforge::eval

#include "kvforge/eval/pq_eval.h"

#include <algorithm>

#include "eval/parallel_documents.h"

namespace kvforge::eval {

namespace {

struct DocScores {
  FidelityAccumulator fidelity;
  pq::RetrievalStats stats;
};

Status run_config(model::Session& session, const pq::RetrievalOptions& config, const PqEvalOptions& options,
                  std::span<const int32_t> doc, const std::vector<float>& ref_logits, DocScores* scores) {
  const size_t vocab = static_cast<size_t>(session.model().config().vocab_size);
  const size_t n = doc.size();
  const size_t context =
      std::clamp<size_t>(static_cast<size_t>(static_cast<double>(n) * options.prefill_fraction), 1, n - 1);
  session.reset();
  KVF_RETURN_IF_ERROR(session.forward(doc.first(context), model::LogitsMode::kNone, nullptr));
  pq::RetrievalOptions o = config;
  o.track_recall = config.method == pq::Method::kPq;
  KVF_ASSIGN_OR_RETURN(auto selector, pq::RetrievalSelector::create(o, session.cache().shape()));
  KVF_RETURN_IF_ERROR(selector->build(session.cache(), session.pool()));
  session.set_selector(selector.get());
  std::vector<float> logits;
  Status status;
  for (size_t p = context; p + 1 < n && status.ok(); ++p) {
    status = session.decode(doc[p], &logits);
    if (status.ok()) {
      scores->fidelity.add(std::span<const float>(ref_logits.data() + p * vocab, vocab), logits, doc[p + 1]);
    }
  }
  session.set_selector(nullptr);
  scores->stats = selector->stats();
  return status;
}

}  // namespace

Result<std::vector<PqEvalRow>> evaluate_retrieval(std::shared_ptr<const model::LlamaModel> model,
                                                  const std::vector<std::vector<int32_t>>& documents,
                                                  const std::vector<pq::RetrievalOptions>& configs,
                                                  const PqEvalOptions& options) {
  for (const auto& c : configs) KVF_RETURN_IF_ERROR(pq::validate(c, model->kv_shape().head_dim));
  std::vector<const std::vector<int32_t>*> used;
  for (const auto& d : documents) {
    if (d.size() >= 3) used.push_back(&d);
  }
  if (used.empty()) return Status::InvalidArgument("no document has 3 tokens or more");
  std::vector<std::vector<DocScores>> scores(configs.size(), std::vector<DocScores>(used.size()));
  KVF_RETURN_IF_ERROR(detail::compare_with_reference(
      model, used, options.run,
      [&](model::Session&, model::Session& test, size_t d, const std::vector<float>& ref_logits) {
        for (size_t c = 0; c < configs.size(); ++c) {
          KVF_RETURN_IF_ERROR(run_config(test, configs[c], options, *used[d], ref_logits, &scores[c][d]));
        }
        return Status::OK();
      }));
  std::vector<PqEvalRow> rows;
  for (size_t c = 0; c < configs.size(); ++c) {
    FidelityAccumulator acc;
    pq::RetrievalStats stats;
    for (const auto& s : scores[c]) {  // document order: independent of scheduling
      acc.merge(s.fidelity);
      stats.selections += s.stats.selections;
      stats.recall_sum += s.stats.recall_sum;
      stats.recall_count += s.stats.recall_count;
      stats.tier.hits += s.stats.tier.hits;
      stats.tier.misses += s.stats.tier.misses;
      stats.tier.block_loads += s.stats.tier.block_loads;
    }
    const double recall = configs[c].method == pq::Method::kOracle ? 1.0 : stats.recall();
    rows.push_back({configs[c], acc.result(), recall, stats.selections, stats.tier, used.size()});
  }
  return rows;
}

}  // namespace kvforge::eval

#include "kvforge/eval/evict_eval.h"

#include <algorithm>
#include <string>

#include "eval/parallel_documents.h"
#include "kvforge/evict/registry.h"

namespace kvforge::eval {

namespace {

struct DocScores {
  FidelityAccumulator fidelity;
  double peak_bytes = 0;
};

// Tokens a fractional budget is a fraction of: the context when prefilling,
// the whole document when decoding.
size_t reference_tokens(const EvictEvalConfig& config, const EvictEvalOptions& options, size_t n) {
  if (config.phase == evict::Phase::kDecode) return n;
  return std::clamp<size_t>(static_cast<size_t>(static_cast<double>(n) * options.prefill_fraction), 1, n - 1);
}

// Runs one config on one document in `session`; appends to `scores`.
Status run_config(model::Session& session, const EvictEvalConfig& config, const EvictEvalOptions& options,
                  std::span<const int32_t> doc, const std::vector<float>& ref_logits, DocScores* scores) {
  const size_t vocab = static_cast<size_t>(session.model().config().vocab_size);
  const size_t n = doc.size();
  session.reset();
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<evict::Policy> policy, evict::make_policy(config.policy));
  KVF_ASSIGN_OR_RETURN(auto controller,
                       eval::EvictionController::create(&session, std::move(policy), options.controller));
  std::vector<float> logits;
  size_t peak = 0;
  auto track = [&] { peak = std::max(peak, session.cache().bytes_live()); };
  auto score = [&](size_t p, const float* test_row) {
    scores->fidelity.add(std::span<const float>(ref_logits.data() + p * vocab, vocab),
                         std::span<const float>(test_row, vocab), doc[p + 1]);
  };

  if (config.phase == evict::Phase::kPrefill) {
    const size_t context = reference_tokens(config, options, n);
    KVF_RETURN_IF_ERROR(controller->set_budget(config.budget, context));
    KVF_RETURN_IF_ERROR(controller->prefill(doc.first(context), model::LogitsMode::kNone, nullptr));
    track();
    // The rest, teacher-forced in one batch over the compressed context.
    const auto rest = doc.subspan(context, n - 1 - context);
    if (!rest.empty()) {
      KVF_RETURN_IF_ERROR(session.forward(rest, model::LogitsMode::kAll, &logits));
      track();
      for (size_t i = 0; i < rest.size(); ++i) score(context + i, logits.data() + i * vocab);
    }
  } else {
    KVF_RETURN_IF_ERROR(controller->set_budget(config.budget, n));
    // Up to the budget nothing is evicted, so those tokens go in one batch
    // (the policy still observes their attention).
    const size_t warm = std::min(controller->budget_slots(), n - 1);
    KVF_RETURN_IF_ERROR(controller->prefill(doc.first(warm), model::LogitsMode::kNone, nullptr));
    track();
    for (size_t p = warm; p + 1 < n; ++p) {
      KVF_RETURN_IF_ERROR(controller->decode(doc[p], &logits));
      track();
      score(p, logits.data());
    }
  }
  scores->peak_bytes = static_cast<double>(peak);
  return Status::OK();
}

// Whether every config's budget covers what its policy protects on this document.
bool long_enough(const std::vector<EvictEvalConfig>& configs, const std::vector<std::unique_ptr<evict::Policy>>& policies,
                 const EvictEvalOptions& options, size_t n) {
  for (size_t c = 0; c < configs.size(); ++c) {
    if (policies[c]->unbounded()) continue;
    const size_t slots = configs[c].budget.slots(reference_tokens(configs[c], options, n));
    if (slots < policies[c]->min_keep(evict::Phase::kPrefill, slots) ||
        slots < policies[c]->min_keep(evict::Phase::kDecode, slots)) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::vector<EvictEvalRow>> evaluate_eviction(std::shared_ptr<const model::LlamaModel> model,
                                                    const std::vector<std::vector<int32_t>>& documents,
                                                    const std::vector<EvictEvalConfig>& configs,
                                                    const EvictEvalOptions& options) {
  std::vector<std::unique_ptr<evict::Policy>> policies;
  for (const auto& c : configs) {
    auto p = evict::make_policy(c.policy);  // fail before any work on a bad name
    if (!p.ok()) return p.status();
    policies.push_back(std::move(*p));
  }
  std::vector<const std::vector<int32_t>*> used;
  for (const auto& d : documents) {
    if (d.size() >= 3 && long_enough(configs, policies, options, d.size())) used.push_back(&d);
  }
  if (used.empty()) {
    return Status::InvalidArgument("no document is long enough for every budget (the smallest budgets fall below "
                                   "what the policies protect); use longer documents or larger budgets");
  }
  // scores[c][d]: merged in document order at the end, so results do not
  // depend on scheduling.
  std::vector<std::vector<DocScores>> scores(configs.size(), std::vector<DocScores>(used.size()));
  std::vector<double> full_bytes(used.size());
  KVF_RETURN_IF_ERROR(detail::compare_with_reference(
      model, used, options.run,
      [&](model::Session& ref, model::Session& test, size_t d, const std::vector<float>& ref_logits) {
        full_bytes[d] = static_cast<double>(ref.cache().bytes_live());
        for (size_t c = 0; c < configs.size(); ++c) {
          KVF_RETURN_IF_ERROR(run_config(test, configs[c], options, *used[d], ref_logits, &scores[c][d])
                                  .with_context(configs[c].policy + " at budget " + configs[c].budget.to_string() +
                                                " (" + evict::phase_name(configs[c].phase) + ")"));
        }
        return Status::OK();
      }));

  std::vector<EvictEvalRow> rows;
  double mean_full = 0;
  for (double b : full_bytes) mean_full += b / static_cast<double>(used.size());
  for (size_t c = 0; c < configs.size(); ++c) {
    FidelityAccumulator acc;
    double bytes = 0;
    for (const auto& s : scores[c]) {
      acc.merge(s.fidelity);
      bytes += s.peak_bytes / static_cast<double>(used.size());
    }
    rows.push_back({configs[c], acc.result(), bytes, mean_full, used.size()});
  }
  return rows;
}

}  // namespace kvforge::eval

// kvforge eval pq: retrieval attention (PQCache) and its exact-score oracle at
// several budgets, against the full cache; a table and JSON rows.
#include <sstream>

#include "common.h"
#include "kvforge/core/progress.h"
#include "kvforge/eval/pq_eval.h"

namespace kvforge::cli {

Runner register_eval_pq(CLI::App* eval_cmd) {
  struct Args {
    ModelFlags model;
    TextFlags text;
    std::string ratios = "0.3,0.2,0.1";
    std::string methods = "pq,oracle";
    std::string params = "m=2,bits=6";
    double prefill_fraction = 0.5;
    std::string json;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = eval_cmd->add_subcommand("pq", "Retrieval attention (PQ top-k and the exact oracle) against the full cache");
  add_model_flags(cmd, &a->model);
  add_text_flags(cmd, &a->text);
  cmd->add_option("--ratios", a->ratios, "Comma-separated budgets: fractions of the visible tokens in (0, 1]");
  cmd->add_option("--methods", a->methods, "pq, oracle or both (comma-separated)");
  cmd->add_option("--params", a->params,
                  "Retrieval parameters: m=,bits=,sinks=,iters=,seed=,retrain=,tier=BLOCKS,block=TOKENS");
  cmd->add_option("--prefill-fraction", a->prefill_fraction, "Share of each document prefilled with full attention")
      ->check(CLI::Range(0.05, 0.95));
  add_json_flag(cmd, &a->json);

  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    std::vector<pq::RetrievalOptions> configs;
    std::stringstream rs(a->ratios);
    for (std::string ratio; std::getline(rs, ratio, ',');) {
      std::stringstream ms(a->methods);
      for (std::string method; std::getline(ms, method, ',');) {
        auto o = pq::parse_retrieval_spec(ratio + ":" + a->params + ",method=" + method);
        if (!o.ok()) return fail(o.status());
        configs.push_back(*o);
      }
    }
    if (configs.empty()) return fail(Status::InvalidArgument("--ratios and --methods must each name at least one"));
    auto loaded = load_model(a->model);
    if (!loaded.ok()) return fail(loaded.status());
    auto docs = documents_for(**loaded, a->text);
    if (!docs.ok()) return fail(docs.status());
    core::Progress progress("pq", docs->size());
    eval::PqEvalOptions o;
    o.prefill_fraction = a->prefill_fraction;
    o.run = run_options(a->model, progress);
    auto rows = eval::evaluate_retrieval(*loaded, *docs, configs, o);
    progress.finish();
    if (!rows.ok()) return fail(rows.status());
    eval::Table table({"method", "ratio", "m", "bits", "recall_at_k", "delta_ppl_pct", "kl", "top1_agreement",
                       "block_hit_rate", "tokens", "documents"});
    for (const auto& r : *rows) {
      nlohmann::json row = {{"method", pq::method_name(r.config.method)},
                 {"ratio", r.config.ratio},
                 {"m", r.config.m},
                 {"bits", r.config.bits},
                 {"sinks", r.config.sinks},
                 {"recall_at_k", r.recall_at_k},
                 {"delta_ppl_pct", r.fidelity.delta_ppl_pct},
                 {"kl", r.fidelity.kl},
                 {"top1_agreement", r.fidelity.top1_agreement},
                 {"ref_ppl", r.fidelity.ref_ppl},
                 {"ppl", r.fidelity.test_ppl},
                 {"retrievals", r.retrievals},
                 {"tokens", r.fidelity.tokens},
                 {"documents", static_cast<int64_t>(r.documents)},
                 {"kv_type", std::string(kv::kv_type_name(a->model.kv_type))}};
      if (r.tier.hits + r.tier.misses > 0) {
        row["block_hit_rate"] = r.tier.hit_rate();
        row["block_loads"] = r.tier.block_loads;
      }
      table.add(std::move(row));
    }
    return emit(table, a->json);
  };
}

}  // namespace kvforge::cli

// kvforge eval ppl | compare: teacher-forced scoring on real text.
#include <iostream>

#include "common.h"
#include "kvforge/core/progress.h"
#include "kvforge/eval/documents.h"
#include "kvforge/eval/perplexity.h"

namespace kvforge::cli {

Runner register_eval(CLI::App& app) {
  auto* eval_cmd = app.add_subcommand("eval", "Evaluate on real text");
  eval_cmd->require_subcommand(1);

  struct PplArgs {
    ModelFlags model;
    TextFlags text;
    std::string json;
  };
  auto p = std::make_shared<PplArgs>();
  auto* ppl = eval_cmd->add_subcommand("ppl", "Teacher-forced perplexity (BOS per document)");
  add_model_flags(ppl, &p->model);
  add_text_flags(ppl, &p->text);
  add_json_flag(ppl, &p->json);

  struct CompareArgs {
    ModelFlags model;
    ModelFlags ref;
    TextFlags text;
    std::string json;
  };
  auto c = std::make_shared<CompareArgs>();
  auto* cmp = eval_cmd->add_subcommand(
      "compare", "Score a model against a reference model on the same tokens (KL, top-1 agreement, delta ppl)");
  add_model_flags(cmp, &c->model);
  cmp->add_option("--ref-model", c->ref.model, "Reference model (e.g. the f32 file a quantized one came from)")
      ->required();
  cmp->add_option("--ref-tokenizer", c->ref.tokenizer, "Reference model's tokenizer.bin (llama2.c)");
  add_text_flags(cmp, &c->text);
  add_json_flag(cmp, &c->json);

  Runner evict_runner = register_eval_evict(eval_cmd);
  Runner codec_runner = register_eval_codec(eval_cmd);
  Runner pq_runner = register_eval_pq(eval_cmd);

  return [eval_cmd, ppl, cmp, p, c, evict_runner, codec_runner, pq_runner]() {
    if (const int code = evict_runner(); code >= 0) return code;
    if (const int code = codec_runner(); code >= 0) return code;
    if (const int code = pq_runner(); code >= 0) return code;
    if (ppl->parsed()) {
      auto loaded = load_model(p->model);
      if (!loaded.ok()) return fail(loaded.status());
      auto docs = documents_for(**loaded, p->text);
      if (!docs.ok()) return fail(docs.status());
      core::Progress progress("ppl", docs->size());
      eval::RunOptions ro = run_options(p->model, progress);
      auto r = eval::perplexity(*loaded, *docs, ro);
      progress.finish();
      if (!r.ok()) return fail(r.status());
      eval::Table table({"ppl", "mean_nll", "tokens", "documents"});
      table.add({{"ppl", r->ppl},
                 {"mean_nll", r->mean_nll},
                 {"tokens", r->tokens},
                 {"documents", static_cast<int64_t>(r->documents)},
                 {"kv_type", std::string(kv::kv_type_name(p->model.kv_type))}});
      return emit(table, p->json);
    }
    if (cmp->parsed()) {
      auto test_model = load_model(c->model);
      if (!test_model.ok()) return fail(test_model.status());
      c->ref.threads = c->model.threads;
      auto ref_model = load_model(c->ref);
      if (!ref_model.ok()) return fail(ref_model.status().with_context("reference model"));
      auto docs = documents_for(**ref_model, c->text);
      if (!docs.ok()) return fail(docs.status());
      core::Progress progress("compare", docs->size());
      auto r = eval::compare_runs(*ref_model, eval::run_full_cache, *test_model, eval::run_full_cache, *docs,
                                  run_options(c->model, progress));
      progress.finish();
      if (!r.ok()) return fail(r.status());
      eval::Table table({"model", "ref_ppl", "ppl", "delta_ppl_pct", "kl", "top1_agreement", "tokens"});
      table.add({{"model", c->model.model}, {"ref_ppl", r->ref_ppl}, {"ppl", r->test_ppl},
                 {"delta_ppl_pct", r->delta_ppl_pct}, {"kl", r->kl}, {"top1_agreement", r->top1_agreement},
                 {"tokens", r->tokens}, {"kv_type", std::string(kv::kv_type_name(c->model.kv_type))}});
      return emit(table, c->json);
    }
    std::cerr << eval_cmd->help();
    return 2;
  };
}

}  // namespace kvforge::cli

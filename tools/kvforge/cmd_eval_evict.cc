// kvforge eval evict: every policy at every budget, in the prefill and the decode
// setting, against the full cache; a table, JSON rows and an SVG plot.
#include <filesystem>
#include <iostream>
#include <sstream>

#include "common.h"
#include "kvforge/core/file_io.h"
#include "kvforge/core/progress.h"
#include "kvforge/eval/documents.h"
#include "kvforge/eval/evict_eval.h"
#include "kvforge/eval/svg_plot.h"
#include "kvforge/evict/registry.h"

namespace kvforge::cli {

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string default_svg_path(const std::string& json) {
  std::filesystem::path p(json);
  p.replace_extension(".svg");
  return p.string();
}

struct EvalEvictArgs {
  ModelFlags model;
  std::string text;
  size_t window = 0;
  size_t limit = 0;
  std::string policies = "all";
  std::string budgets = "0.5,0.2,0.1";
  std::string phases = "prefill,decode";
  double prefill_fraction = 0.5;
  int prefill_chunk = 0;
  int decode_stride = 1;
  std::string json;
  std::string svg;
};

void add_eval_evict_options(CLI::App* cmd, EvalEvictArgs* a) {
  add_model_flags(cmd, &a->model);
  cmd->add_option("--text", a->text, "Text file, one document per line")->required();
  cmd->add_option("--window", a->window, "Max positions per document incl. BOS (default: the model's context)");
  cmd->add_option("--limit", a->limit, "Only the first N documents (default: all)");
  cmd->add_option("--policies", a->policies, "Comma-separated policy descriptions, or 'all'");
  cmd->add_option("--budgets", a->budgets, "Comma-separated budgets: fractions kept (0.2, 20%) or slot counts");
  cmd->add_option("--phases", a->phases, "prefill, decode or both (comma-separated)");
  cmd->add_option("--prefill-fraction", a->prefill_fraction, "Share of each document used as the context (prefill)")
      ->check(CLI::Range(0.05, 0.95));
  cmd->add_option("--prefill-chunk", a->prefill_chunk, "Tokens per prefill chunk (0: the policy's stride)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--decode-stride", a->decode_stride, "Evict every N decode steps")->check(CLI::Range(1, 1 << 20));
  add_json_flag(cmd, &a->json);
  cmd->add_option("--svg", a->svg, "Plot budget vs delta ppl here (default: beside --json, .svg)");
}

Result<std::vector<evict::Phase>> parse_phases(const std::string& list) {
  std::vector<evict::Phase> phases;
  for (const auto& p : split(list)) {
    if (p == "prefill") {
      phases.push_back(evict::Phase::kPrefill);
    } else if (p == "decode") {
      phases.push_back(evict::Phase::kDecode);
    } else {
      return Status::InvalidArgument("--phases: '" + p + "' is not prefill or decode");
    }
  }
  return phases;
}

// Every (phase, policy, budget) the flags name, phases outermost; *phases: the phases.
Result<std::vector<eval::EvictEvalConfig>> make_configs(const EvalEvictArgs& a, std::vector<evict::Phase>* phases) {
  std::vector<std::string> policies = a.policies == "all" ? evict::policy_names() : split(a.policies);
  std::vector<evict::Budget> budgets;
  for (const auto& b : split(a.budgets)) {
    auto parsed = evict::Budget::parse(b);
    if (!parsed.ok()) return parsed.status().with_context("--budgets");
    budgets.push_back(*parsed);
  }
  KVF_ASSIGN_OR_RETURN(*phases, parse_phases(a.phases));
  if (policies.empty() || budgets.empty() || phases->empty()) {
    return Status::InvalidArgument("--policies, --budgets and --phases must each name at least one");
  }
  std::vector<eval::EvictEvalConfig> configs;
  for (auto phase : *phases)
    for (const auto& policy : policies)
      for (const auto& budget : budgets) configs.push_back({policy, budget, phase});
  return configs;
}

// The result rows as a table, and per phase a plot panel of delta ppl against
// the fraction kept, one series per policy.
eval::Table tabulate(const std::vector<eval::EvictEvalRow>& rows, const std::vector<evict::Phase>& phases,
                     kv::KvType kv_type, std::vector<eval::PlotPanel>* panels) {
  eval::Table table({"phase", "policy", "budget", "delta_ppl_pct", "kl", "top1_agreement", "kv_bytes", "tokens", "documents"});
  for (auto phase : phases) {
    eval::PlotPanel panel{std::string(evict::phase_name(phase)) + " eviction", "budget (fraction of KV kept)",
                          "delta ppl (%)", {}};
    for (const auto& r : rows) {
      if (r.config.phase != phase) continue;
      table.add({{"policy", r.config.policy},
                 {"budget", r.config.budget.is_fraction() ? nlohmann::json(r.config.budget.value())
                                                          : nlohmann::json(r.config.budget.to_string())},
                 {"phase", evict::phase_name(phase)},
                 {"delta_ppl_pct", r.fidelity.delta_ppl_pct},
                 {"kl", r.fidelity.kl},
                 {"top1_agreement", r.fidelity.top1_agreement},
                 {"kv_bytes", r.kv_bytes},
                 {"kv_bytes_full", r.kv_bytes_full},
                 {"ref_ppl", r.fidelity.ref_ppl},
                 {"ppl", r.fidelity.test_ppl},
                 {"tokens", r.fidelity.tokens},
                 {"documents", static_cast<int64_t>(r.documents)},
                 {"kv_type", std::string(kv::kv_type_name(kv_type))}});
      if (!r.config.budget.is_fraction()) continue;
      auto it = std::find_if(panel.series.begin(), panel.series.end(),
                             [&](const auto& s) { return s.name == r.config.policy; });
      if (it == panel.series.end()) it = panel.series.insert(panel.series.end(), {r.config.policy, {}});
      it->points.emplace_back(r.config.budget.value(), r.fidelity.delta_ppl_pct);
    }
    panels->push_back(std::move(panel));
  }
  return table;
}

int run_eval_evict(const EvalEvictArgs& a) {
  std::vector<evict::Phase> phases;
  auto configs = make_configs(a, &phases);
  if (!configs.ok()) return fail(configs.status());
  auto loaded = load_model(a.model);
  if (!loaded.ok()) return fail(loaded.status());
  const size_t ctx = static_cast<size_t>((*loaded)->config().context_length);
  if (a.window > ctx) return fail(Status::InvalidArgument("--window exceeds the model's context length"));
  auto docs = eval::load_documents(a.text, *(*loaded)->tokenizer(),
                                   {.window = a.window > 0 ? a.window : ctx, .limit = a.limit, .add_bos = true});
  if (!docs.ok()) return fail(docs.status());

  core::Progress progress("evict", docs->size());
  eval::EvictEvalOptions o;
  o.prefill_fraction = a.prefill_fraction;
  o.controller.prefill_chunk = a.prefill_chunk;
  o.controller.decode_stride = a.decode_stride;
  o.run = run_options(a.model, progress);
  auto rows = eval::evaluate_eviction(*loaded, *docs, *configs, o);
  progress.finish();
  if (!rows.ok()) return fail(rows.status());

  std::vector<eval::PlotPanel> panels;
  const eval::Table table = tabulate(*rows, phases, a.model.kv_type, &panels);
  const int code = emit(table, a.json);
  if (code != 0) return code;
  const std::string svg = !a.svg.empty() ? a.svg : (!a.json.empty() ? default_svg_path(a.json) : "");
  if (!svg.empty()) {
    Status s = core::write_file_atomic(
        svg, eval::render_line_chart_svg("KV eviction: " + a.model.model + " on " + a.text, panels));
    if (!s.ok()) return fail(s);
    std::cerr << "plot written to " << svg << "\n";
  }
  return 0;
}

}  // namespace

Runner register_eval_evict(CLI::App* eval_cmd) {
  auto a = std::make_shared<EvalEvictArgs>();
  auto* cmd = eval_cmd->add_subcommand("evict", "Eviction policies under KV budgets against the full cache");
  add_eval_evict_options(cmd, a.get());
  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    return run_eval_evict(*a);
  };
}

}  // namespace kvforge::cli

// kvforge bench evict: what each policy's bookkeeping (observing attention,
// choosing victims) costs per decode step, on a model large enough that the
// step time is realistic.
#include <chrono>
#include <iostream>
#include <random>
#include <sstream>

#include "common.h"
#include "kvforge/eval/eviction_controller.h"
#include "kvforge/evict/registry.h"

namespace kvforge::cli {

namespace {

struct BenchEvictArgs {
  ModelFlags model;
  std::string synthetic;
  std::string policies = "all";
  std::string budget = "0.5";
  int context = 1024;
  int decode_tokens = 32;
  int prefill_chunk = 256;
  std::string json;
};

void add_bench_evict_options(CLI::App* cmd, BenchEvictArgs* a) {
  add_model_flags(cmd, &a->model, /*optional=*/true);
  cmd->add_option("--synthetic", a->synthetic, "Synthetic model when no --model (default 1b)");
  cmd->add_option("--policies", a->policies, "Comma-separated policy descriptions, or 'all'");
  cmd->add_option("--budget", a->budget, "Budget, a fraction of the context or a slot count");
  cmd->add_option("--context", a->context, "Tokens prefilled before timing")->check(CLI::Range(8, 1 << 20));
  cmd->add_option("--decode-tokens", a->decode_tokens, "Decode steps timed")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--prefill-chunk", a->prefill_chunk, "Prefill chunk (eviction after each)")
      ->check(CLI::Range(1, 1 << 20));
  add_json_flag(cmd, &a->json);
}

// One policy's decode steps after a prefill of the context: milliseconds per
// step, of which its bookkeeping, and the KV bytes left.
struct PolicyTiming {
  double step_ms = 0, policy_ms = 0;
  int64_t kv_bytes = 0;
};

Result<PolicyTiming> time_policy(const BenchEvictArgs& a, const std::string& name, const evict::Budget& budget,
                                 std::shared_ptr<const model::LlamaModel> model, const std::vector<int32_t>& tokens) {
  auto policy = evict::make_policy(name);
  if (!policy.ok()) return policy.status();
  model::Session session(std::move(model), session_options(a.model));
  auto controller = eval::EvictionController::create(&session, std::move(*policy),
                                                      {.prefill_chunk = a.prefill_chunk, .decode_stride = 1});
  if (!controller.ok()) return controller.status();
  auto& c = **controller;
  Status s = c.set_budget(budget, static_cast<size_t>(a.context));
  if (s.ok()) s = c.prefill(std::span<const int32_t>(tokens.data(), static_cast<size_t>(a.context)),
                            model::LogitsMode::kNone, nullptr);
  if (!s.ok()) return s.with_context(name);
  std::vector<float> logits;
  const double policy_before = c.policy_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < a.decode_tokens; ++i) {
    s = c.decode(tokens[static_cast<size_t>(a.context + i)], &logits);
    if (!s.ok()) return s.with_context(name);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  PolicyTiming t;
  t.step_ms = secs * 1000.0 / a.decode_tokens;
  t.policy_ms = (c.policy_seconds() - policy_before) * 1000.0 / a.decode_tokens;
  t.kv_bytes = static_cast<int64_t>(session.cache().bytes_live());
  return t;
}

int run_bench_evict(const BenchEvictArgs& a) {
  auto budget = evict::Budget::parse(a.budget);
  if (!budget.ok()) return fail(budget.status().with_context("--budget"));
  std::vector<std::string> policies;
  if (a.policies == "all") {
    policies = evict::policy_names();
  } else {
    std::stringstream ss(a.policies);
    for (std::string p; std::getline(ss, p, ',');) policies.push_back(p);
  }
  auto loaded = load_or_synthesize(a.model, a.synthetic);
  if (!loaded.ok()) return fail(loaded.status());
  const auto& [label, model] = *loaded;
  const int vocab = model->config().vocab_size;
  if (a.context + a.decode_tokens > model->config().context_length) {
    return fail(Status::InvalidArgument("--context + --decode-tokens exceed the model's context length"));
  }
  std::mt19937 rng(99);
  std::vector<int32_t> tokens(static_cast<size_t>(a.context + a.decode_tokens));
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));

  eval::Table table({"policy", "budget", "context_tokens", "decode_ms", "policy_ms", "overhead_pct", "kv_bytes"});
  for (const auto& name : policies) {
    auto t = time_policy(a, name, *budget, model, tokens);
    if (!t.ok()) return fail(t.status());
    table.add({{"model", label},
               {"policy", name},
               {"budget", budget->to_string()},
               {"context_tokens", a.context},
               {"decode_ms", t->step_ms},
               {"policy_ms", t->policy_ms},
               {"overhead_pct", 100.0 * t->policy_ms / t->step_ms},
               {"kv_bytes", t->kv_bytes},
               {"threads", a.model.threads},
               {"kv_type", std::string(kv::kv_type_name(a.model.kv_type))}});
  }
  return emit(table, a.json);
}

}  // namespace

Runner register_bench_evict(CLI::App* bench_cmd) {
  auto a = std::make_shared<BenchEvictArgs>();
  auto* cmd = bench_cmd->add_subcommand("evict", "Per-step bookkeeping cost of each eviction policy");
  add_bench_evict_options(cmd, a.get());
  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    return run_bench_evict(*a);
  };
}

}  // namespace kvforge::cli

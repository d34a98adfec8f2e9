// kvforge generate: llama2.c's run.c generation loop. -n counts positions,
// prompt included; generation stops early when the model emits BOS.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "common.h"
#include "kvforge/eval/eviction_controller.h"
#include "kvforge/pq/retrieval.h"
#include "kvforge/evict/registry.h"
#include "kvforge/model/sampler.h"

namespace kvforge::cli {

namespace {
// run.c's safe_printf: skip lone control bytes a piece may decode to.
// run.c's safe_printf drops lone unprintable bytes; byte-level BPE spells a
// multi-byte character as several one-byte pieces, so those print as they are.
void print_piece(const std::string& piece, bool raw_bytes) {
  if (piece.empty()) return;
  if (piece.size() == 1 && !raw_bytes) {
    const unsigned char c = static_cast<unsigned char>(piece[0]);
    if (!(std::isprint(c) || std::isspace(c))) return;
  }
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
}
struct GenerateArgs {
  ModelFlags model;
  std::string prompt;
  int steps = 256;
  float temp = 1.0f;
  float topp = 0.9f;
  uint64_t seed = 0;
  std::string policy;
  std::string budget;
  int evict_stride = 1;
  std::string pq;
};

void add_generate_options(CLI::App* cmd, GenerateArgs* a) {
  add_model_flags(cmd, &a->model);
  cmd->add_option("--prompt,-i", a->prompt, "Prompt text");
  cmd->add_option("-n,--steps", a->steps, "Positions to run, prompt included (0 = the model's context)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp", a->temp, "Temperature (0 = greedy)");
  cmd->add_option("--topp", a->topp, "Top-p (nucleus) in [0,1]; 0 or 1 disables it");
  cmd->add_option("--seed,-s", a->seed, "Random seed (0 = from the clock)");
  cmd->add_option("--policy", a->policy, "KV eviction policy, e.g. roco, h2o, streaming, snapkv:window=32");
  cmd->add_option("--budget", a->budget,
                  "KV budget per kv head with --policy: a fraction of -n (0.2, 20%) or a slot count (128)");
  cmd->add_option("--evict-stride", a->evict_stride, "Evict every N decode steps")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--pq", a->pq,
                  "Retrieval attention after the prompt: RATIO[:m=2,bits=6,sinks=32] (PQCache; method=oracle for exact "
                  "top-k)");
}

// The --policy / --budget controller over `session`; null without them.
Result<std::unique_ptr<eval::EvictionController>> make_evictor(const GenerateArgs& a, model::Session* session,
                                                                int steps) {
  if (a.policy.empty() && a.budget.empty()) return std::unique_ptr<eval::EvictionController>();
  if (a.policy.empty() || a.budget.empty()) return Status::InvalidArgument("--policy and --budget go together");
  auto policy = evict::make_policy(a.policy);
  if (!policy.ok()) return policy.status();
  auto budget = evict::Budget::parse(a.budget);
  if (!budget.ok()) return budget.status().with_context("--budget");
  auto controller = eval::EvictionController::create(session, std::move(*policy), {.decode_stride = a.evict_stride});
  if (!controller.ok()) return controller.status();
  KVF_RETURN_IF_ERROR((*controller)->set_budget(*budget, static_cast<size_t>(steps)));
  return std::move(*controller);
}

// The --pq retrieval selector for `session`'s cache; null without it.
Result<std::unique_ptr<pq::RetrievalSelector>> make_retrieval(const GenerateArgs& a, const model::Session& session) {
  if (a.pq.empty()) return std::unique_ptr<pq::RetrievalSelector>();
  auto ro = pq::parse_retrieval_spec(a.pq);
  if (!ro.ok()) return ro.status().with_context("--pq");
  auto sel = pq::RetrievalSelector::create(*ro, session.cache().shape());
  if (!sel.ok()) return sel.status().with_context("--pq");
  return std::move(*sel);
}

void print_retrieval_stats(const pq::RetrievalSelector& retrieval, const model::Session& session) {
  const pq::RetrievalStats rs = retrieval.stats();
  std::fprintf(stderr, "pq: %lld retrievals, index %.1f KiB, kv %.1f KiB; %lld background re-trainings (decode waited %.1f ms)\n",
               static_cast<long long>(rs.selections), retrieval.index_bytes() / 1024.0,
               session.cache().bytes_live() / 1024.0, static_cast<long long>(rs.retrains), rs.retrain_wait_ms);
  const pq::TierStats tier = retrieval.stats().tier;
  if (tier.hits + tier.misses > 0) {
    std::fprintf(stderr, "pq tier: block hit rate %.3f (%lld hits, %lld misses)\n", tier.hit_rate(),
                 static_cast<long long>(tier.hits), static_cast<long long>(tier.misses));
  }
}

// One generation: a prompt and the way each position is run.
struct Generation {
  model::Session& session;
  eval::EvictionController* evictor;  // null: the session runs unbounded
  model::Sampler& sampler;
  const model::Tokenizer& tok;
  const std::vector<int32_t>& prompt;

  void print(int32_t prev, int32_t token) const { print_piece(tok.decode_piece(prev, token), tok.is_bpe()); }

  // The prompt but its last token as one batch, printed as it goes.
  Status prefill(size_t n_prefill) {
    // run.c's prompt starts with BOS, which prints nothing; a vocabulary that
    // adds no BOS (Qwen2, GPT-2) starts with text that must print.
    if (prompt.front() != tok.bos()) print(tok.bos(), prompt.front());
    if (n_prefill == 0) return Status::OK();
    const std::span<const int32_t> head(prompt.data(), n_prefill);
    KVF_RETURN_IF_ERROR(evictor ? evictor->prefill(head, model::LogitsMode::kNone, nullptr)
                                : session.forward(head, model::LogitsMode::kNone, nullptr));
    for (size_t i = 0; i < n_prefill; ++i) print(prompt[i], prompt[i + 1]);
    return Status::OK();
  }

  // Positions n_prefill..steps, one token each, as run.c's loop; returns the
  // count of sampled (not prompt) tokens.
  Result<int> decode(size_t n_prefill, int steps) {
    std::vector<float> logits;
    int32_t token = prompt[n_prefill];
    int generated = 0;
    for (int pos = static_cast<int>(n_prefill); pos < steps; ++pos) {
      KVF_RETURN_IF_ERROR(evictor ? evictor->decode(token, &logits) : session.decode(token, &logits));
      int32_t next;
      if (static_cast<size_t>(pos) + 1 < prompt.size()) {
        next = prompt[static_cast<size_t>(pos) + 1];
      } else {
        next = sampler.sample(logits);
        ++generated;
      }
      // run.c stops at BOS; chat and BPE models end a reply with EOS or an
      // end-of-turn token (<|eot_id|>, <|im_end|>).
      if (next == tok.bos() || tok.is_eog(next)) break;
      print(token, next);
      token = next;
    }
    return generated;
  }
};

int run_generate(const GenerateArgs& a) {
  auto loaded = load_model(a.model);
  if (!loaded.ok()) return fail(loaded.status());
  auto model = *loaded;
  const int ctx = model->config().context_length;
  int steps = a.steps;
  if (steps <= 0 || steps > ctx) steps = ctx;
  model::SamplerOptions so{a.temp, a.topp, a.seed};
  if (so.seed == 0) so.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  auto sampler = model::Sampler::create(so);
  if (!sampler.ok()) return fail(sampler.status());
  const model::Tokenizer& tok = *model->tokenizer();
  std::vector<int32_t> prompt = tok.encode(a.prompt, /*add_special=*/true);
  if (prompt.empty()) return fail(Status::InvalidArgument("the prompt encodes to no tokens"));

  model::Session session(model, session_options(a.model));
  auto evictor = make_evictor(a, &session, steps);
  if (!evictor.ok()) return fail(evictor.status());
  if (!a.pq.empty() && *evictor) return fail(Status::InvalidArgument("--pq and --policy cannot be combined"));
  auto retrieval = make_retrieval(a, session);
  if (!retrieval.ok()) return fail(retrieval.status());
  Generation gen{session, evictor->get(), *sampler, tok, prompt};
  // The prompt is fed as one batch except its last token, which the loop
  // below decodes like run.c does every position.
  const size_t n_prefill = std::min<size_t>(prompt.size() - 1, static_cast<size_t>(steps));
  if (Status s = gen.prefill(n_prefill); !s.ok()) return fail(s);
  if (*retrieval) {  // the prompt ran with full attention; decoding retrieves
    Status s = (*retrieval)->build(session.cache(), session.pool());
    if (!s.ok()) return fail(s);
    session.set_selector(retrieval->get());
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto generated = gen.decode(n_prefill, steps);
  if (!generated.ok()) return fail(generated.status());
  std::printf("\n");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (*generated > 1) std::fprintf(stderr, "achieved tok/s: %.1f\n", *generated / secs);
  if (*retrieval) {
    session.set_selector(nullptr);
    print_retrieval_stats(**retrieval, session);
  }
  if (*evictor) {
    std::fprintf(stderr, "kv: %zu slots live (max %zu per kv head, budget %zu), %zu evicted, %.1f KiB\n",
                 session.cache().total_slots(), session.cache().max_head_size(), (*evictor)->budget_slots(),
                 (*evictor)->evicted_total(), session.cache().bytes_live() / 1024.0);
  }
  return 0;
}

}  // namespace

Runner register_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt");
  add_generate_options(cmd, a.get());
  return [a]() { return run_generate(*a); };
}

}  // namespace kvforge::cli

// kvforge serve: a model behind OpenAI's HTTP API (docs/SERVE.md), reusing KV
// across requests from memory and a chunk store, until SIGINT or SIGTERM.
#include <csignal>
#include <filesystem>
#include <iostream>

#include "common.h"
#include "kvforge/serve/api_server.h"
#include "kvforge/serve/engine.h"
#include "kvforge/serve/kv_store_tier.h"

namespace kvforge::cli {

namespace {

struct ServeArgs {
  ModelFlags model;
  std::string store, store_token, model_name, chat_template;
  serve::EngineOptions engine;
  serve::ApiServerOptions api;
  size_t cache_ram_mib = 256;
  size_t max_body_mib = 16;
};

// The stop signals, blocked in every thread (the server's inherit the mask) and
// taken here with sigwait.
int wait_for_stop_signal() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  int sig = 0;
  sigwait(&stop, &sig);
  return sig;
}

void block_stop_signals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
}

int run_serve(ServeArgs& a) {
  if (a.model.model.empty()) {
    return fail(Status::InvalidArgument(
        "kvforge serve runs a model behind an OpenAI-compatible API and needs --model FILE.gguf; the chunk-store "
        "server it used to be is now `kvforge store serve --store URL --port P`"));
  }
  auto model = load_model(a.model);
  if (!model.ok()) return fail(model.status());
  a.engine.model = *model;
  a.engine.n_threads = a.model.threads;
  a.engine.cache_ram_bytes = a.cache_ram_mib << 20;
  if (!a.store.empty()) {
    auto tier = serve::KvStoreTier::open(a.store, a.store_token);
    if (!tier.ok()) return fail(tier.status().with_context("--store"));
    a.engine.store = std::move(*tier);
  }
  a.api.model_name = a.model_name.empty() ? std::filesystem::path(a.model.model).filename().string() : a.model_name;
  a.api.chat_template = a.chat_template;
  a.api.http.max_body_bytes = a.max_body_mib << 20;
  block_stop_signals();
  auto engine = serve::Engine::start(a.engine);
  if (!engine.ok()) return fail(engine.status());
  std::shared_ptr<serve::Engine> shared(std::move(*engine));
  auto api = serve::ApiServer::start(shared, a.api);
  if (!api.ok()) return fail(api.status());
  std::cerr << "kvforge serve: " << a.api.model_name << " at " << (*api)->url() << " (" << a.engine.parallel
            << " slots, ctx " << shared->ctx() << ", chat template "
            << ((*api)->chat_template().empty() ? "none" : (*api)->chat_template()) << ", store "
            << (a.store.empty() ? "none" : a.store) << (a.api.token.empty() ? "" : ", bearer token required") << ")"
            << std::endl;
  const int sig = wait_for_stop_signal();
  std::cerr << "kvforge serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping" << std::endl;
  (*api)->stop();
  shared->stop();
  std::cerr << "kvforge serve: stopped" << std::endl;
  return 0;
}

void add_kv_defaults(CLI::App* cmd, ServeArgs* a) {
  serve::KvOptions& d = a->engine.defaults;
  d.store_levels = {"cachegen:level=2", "fp16"};
  cmd->add_option("--kv-store-levels", d.store_levels, "Codec specs new prompt chunks are stored at")
      ->capture_default_str();
  cmd->add_option("--kv-policy", d.policy, "Default eviction policy (requests: kv_policy)");
  cmd->add_option("--kv-budget", d.budget, "Default KV budget with --kv-policy (requests: kv_budget)");
  cmd->add_option("--pq-ratio", d.pq, "Default retrieval attention RATIO[:m=..] (requests: pq_ratio)");
}

}  // namespace

Runner register_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "Serve a model over OpenAI's HTTP API, reusing KV caches across requests");
  add_model_flags(cmd, &a->model, /*optional=*/true);
  cmd->add_option("--store", a->store,
                  "KV store: file:///dir, redis://host:port, or http://host:port (a kvforge store serve)");
  cmd->add_option("--store-token", a->store_token, "Bearer token of an http:// store");
  cmd->add_option("--parallel", a->engine.parallel, "Slots: sequences decoded together")
      ->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--ctx,-c", a->engine.ctx, "Positions per slot (0: min(the model's, 4096))")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--port", a->api.http.port, "TCP port (0: any free port, printed on stderr)")
      ->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--host", a->api.http.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--token", a->api.token, "Require `Authorization: Bearer TOKEN` on every route");
  cmd->add_option("--model-name", a->model_name, "The model id clients use (default: the file name)");
  cmd->add_option("--chat-template", a->chat_template, "Chat template name (default: detected from the GGUF)");
  cmd->add_option("--cache-ram", a->cache_ram_mib, "RAM prefix cache in MiB (0: slots only)")->capture_default_str();
  cmd->add_option("--ttft-deadline-ms", a->engine.ttft_deadline_ms, "Deadline of a stored prefix's load")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--queue", a->engine.queue_limit, "Requests waiting for a slot; more get 503")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--prefill-chunk", a->engine.prefill_chunk, "Prompt tokens per scheduler step")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-body", a->max_body_mib, "Largest request body in MiB (else 413)")->capture_default_str();
  add_kv_defaults(cmd, a.get());
  return [a] { return run_serve(*a); };
}

}  // namespace kvforge::cli

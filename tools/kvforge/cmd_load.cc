// kvforge load: fill a session's KV cache from a chunk store under a TTFT
// deadline (docs/STREAM.md), print the planner's per-chunk plan, then continue
// generating greedily.
#include <algorithm>
#include <iostream>
#include <optional>
#include <string>

#include "common.h"
#include "kv_io.h"
#include "kvforge/codec/codec.h"
#include "kvforge/model/sampler.h"
#include "kvforge/server/client.h"
#include "kvforge/store/chunk_io.h"
#include "kvforge/store/registry.h"
#include "kvforge/stream/bandwidth_trace.h"
#include "stream_common.h"

namespace kvforge::cli {

namespace {

struct LoadArgs {
  ModelFlags model;
  std::string store, token, text, trace, mode = "adaptive", json, secret_file;
  std::vector<std::string> levels;
  double deadline_ms = 1000;
  size_t chunk_tokens = store::kDefaultChunkTokens;
  int steps = 32;
};

// The calibration sample is read before the load's clock starts, but a server
// that hangs or streams garbage must not hold it for the socket timeouts nor
// fill memory. It gets the deadline, at least 5 s (a whole container is several
// frames, and a tight deadline must not starve a slow link of its calibration);
// a stored chunk is a few levels, each at most an fp16 frame, so sixteen of
// those bound any real container.
server::ResponseLimits sample_limits(const model::LlamaModel& model, const LoadArgs& a) {
  server::ResponseLimits limits;
  limits.timeout_seconds = std::max(a.deadline_ms / 1e3, 5.0);
  auto fp16 = codec::max_encoded_size(model.kv_shape(), a.chunk_tokens, "fp16");
  if (fp16.ok()) limits.max_bytes = 16 * uint64_t{*fp16} + 4 * uint64_t{a.chunk_tokens} + (uint64_t{1} << 20);
  return limits;
}

void print_summary(const stream::LoadReport& r, double deadline_ms) {
  std::cerr << "loaded " << r.tokens << " tokens: " << r.fetched_chunks << " chunks fetched (" << r.bytes_fetched
            << " bytes), " << r.recomputed_chunks << " recomputed; TTFT " << r.ttft_seconds * 1e3 << " ms, deadline "
            << deadline_ms << " ms " << (r.deadline_met ? "met" : "missed")
            << (r.source_failed ? "; the source failed" : "");
  if (r.content_mismatches > 0) {
    std::cerr << "; " << r.content_mismatches << " chunks held KV of other tokens (recomputed)";
  }
  if (r.deadline_chunks + r.too_large_chunks + r.too_slow_chunks > 0) {
    std::cerr << "; recomputed as past the deadline " << r.deadline_chunks << ", too large " << r.too_large_chunks
              << ", too slow " << r.too_slow_chunks;
  }
  std::cerr << "\n";
}

// The store secret of --secret-file; none without the flag.
Result<std::optional<store::ChunkSigner>> load_signer(const std::string& path) {
  if (path.empty()) return std::optional<store::ChunkSigner>();
  KVF_ASSIGN_OR_RETURN(store::ChunkSigner signer, store::ChunkSigner::from_file(path));
  return std::optional<store::ChunkSigner>(std::move(signer));
}

int run_load(const LoadArgs& a) {
  auto model = load_model(a.model);
  if (!model.ok()) return fail(model.status());
  // http(s):// is a `kvforge store serve`; anything else a store URL opened here.
  const bool remote = a.store.rfind("http://", 0) == 0;
  std::unique_ptr<store::Backend> backend;
  std::unique_ptr<server::StoreClient> client;
  if (remote) {
    auto c = server::StoreClient::make(a.store, {.token = a.token});
    if (!c.ok()) return fail(c.status());
    client = std::move(*c);
  } else {
    auto b = store::open_backend(a.store);
    if (!b.ok()) return fail(b.status());
    backend = std::move(*b);
  }
  auto tokens = context_tokens(**model, a.text);
  if (!tokens.ok()) return fail(tokens.status());
  const store::ChunkKeyer keyer((*model)->fingerprint(), a.chunk_tokens);
  const auto keys = keyer.keys(*tokens);
  // The planner's costs, measured here on the first stored chunk.
  stream::Calibration cal;
  auto sample = [&]() -> Result<store::StoredChunk> {
    if (!remote) return store::peek_chunk(*backend, keys[0]);
    KVF_ASSIGN_OR_RETURN(server::Fetched whole, client->fetch_chunk(keys[0], sample_limits(**model, a)));
    return store::parse_stored(keys[0], whole.bytes);
  }();
  if (sample.ok()) {
    std::vector<std::string> levels = a.levels;
    if (levels.empty()) {
      for (const auto& l : sample->levels) levels.push_back(l.level);
    }
    model::Session probe(*model, session_options(a.model));
    auto c = stream::calibrate(probe, *sample, levels);
    if (!c.ok()) return fail(c.status());
    cal = std::move(*c);
  } else {
    std::cerr << "kvforge: chunk 0 could not be read (" << sample.status().to_string() << "): recomputing\n";
  }
  stream::LoadOptions options = load_options(cal, a.deadline_ms / 1e3, a.chunk_tokens);
  options.mode = a.mode;
  auto signer = load_signer(a.secret_file);
  if (!signer.ok()) return fail(signer.status());
  if (*signer) options.signer = &**signer;
  std::unique_ptr<stream::ChunkSource> direct;
  if (remote) {
    direct = std::make_unique<stream::ClientSource<server::StoreClient>>(*client);
  } else {
    direct = std::make_unique<stream::BackendSource>(*backend);
  }
  stream::ChunkSource& local = *direct;
  stream::ChunkSource* source = &local;
  std::unique_ptr<stream::BandwidthTrace> trace;
  std::unique_ptr<stream::ThrottledSource> throttled;
  if (!a.trace.empty()) {
    auto t = stream::make_trace(a.trace);
    if (!t.ok()) return fail(t.status());
    trace = std::move(*t);
    throttled = std::make_unique<stream::ThrottledSource>(local, *trace, *core::Env::Default());
    options.initial_bytes_per_second = trace->bytes_per_second(0);
    source = throttled.get();
  }
  model::Session session(*model, session_options(a.model));
  auto report = stream::load_context(session, *source, *tokens, options);
  if (!report.ok()) return fail(report.status());
  const int code = emit(plan_table(*report), a.json);
  print_summary(*report, a.deadline_ms);
  // Continue greedily from the loaded cache.
  std::vector<float> logits = report->logits;
  int32_t prev = tokens->back();
  for (int i = 0; i < a.steps && session.next_position() < session.max_positions(); ++i) {
    const int32_t next = model::Sampler::argmax(logits);
    std::cout << (*model)->tokenizer()->decode_piece(prev, next) << std::flush;
    prev = next;
    if (Status s = session.decode(next, &logits); !s.ok()) return fail(s);
  }
  std::cout << "\n";
  return code;
}

}  // namespace

Runner register_load(CLI::App& app) {
  auto a = std::make_shared<LoadArgs>();
  auto* cmd = app.add_subcommand("load", "Load a context's KV cache from a store under a TTFT deadline, then generate");
  add_model_flags(cmd, &a->model);
  cmd->add_option("--store", a->store, "Store URL (file:///dir, redis://host:port, ...) or a server, http://host:port")
      ->required();
  cmd->add_option("--token", a->token, "Bearer token of an http:// server started with --token");
  cmd->add_option("--secret-file", a->secret_file,
                  "Store secret: use only chunks signed with it for these tokens (others are recomputed)");
  cmd->add_option("--text", a->text, "Text file: the context (as `kvforge store put` stored it)")->required();
  cmd->add_option("--deadline-ms", a->deadline_ms, "Time-to-first-token budget")->check(CLI::PositiveNumber);
  cmd->add_option("--trace", a->trace, "Emulate a link: const:mbps=800 | step:... | random:... (docs/STREAM.md)");
  cmd->add_option("--mode", a->mode, "adaptive (default), recompute, or one stored level for every chunk");
  cmd->add_option("--levels", a->levels, "Levels the planner may pick, best first (default: the stored ones)");
  cmd->add_option("--chunk-tokens", a->chunk_tokens, "Tokens per chunk (as stored)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-n,--steps", a->steps, "Tokens to generate after the load (greedy)")->check(CLI::Range(0, 1 << 20));
  add_json_flag(cmd, &a->json);
  return [a]() { return run_load(*a); };
}

}  // namespace kvforge::cli

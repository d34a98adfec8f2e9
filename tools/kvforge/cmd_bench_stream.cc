// kvforge bench stream: TTFT of loading a long context's KV cache over an
// emulated link (docs/STREAM.md): full recompute, raw fp16 fetch, q8 fetch,
// cachegen at a fixed level and cachegen adaptive, under a constant, a step
// and a random bandwidth trace, on a synthetic model with real prefill.
#include <algorithm>
#include <iostream>
#include <map>
#include <random>

#include "common.h"
#include "kvforge/server/client.h"
#include "kvforge/server/server.h"
#include "kvforge/store/chunk_encoder.h"
#include "kvforge/store/chunk_io.h"
#include "kvforge/store/registry.h"
#include "kvforge/stream/bandwidth_trace.h"
#include "kvforge/stream/publish.h"
#include "stream_common.h"

namespace kvforge::cli {

namespace {

struct StreamArgs {
  ModelFlags model;
  std::string synthetic = "dim=256,hidden=688,layers=6,heads=4,kv_heads=4,vocab=2048,ctx=8192,type=f32";
  std::string json;
  int tokens = 4096;
  int runs = 3;
  double deadline_factor = 1.0;  // x the measured full-recompute TTFT
  int fixed_level = 3;
  bool via_server = false;
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double idx = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(idx);
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

std::string fmt_mbps(double bytes_per_second) { return std::to_string(bytes_per_second * 8 / 1e6); }

int run_stream(const StreamArgs& a) {
  auto loaded = load_or_synthesize(a.model, a.synthetic);
  if (!loaded.ok()) return fail(loaded.status());
  const auto& [label, model] = *loaded;
  if (a.tokens > model->config().context_length) {
    return fail(Status::InvalidArgument("--tokens exceeds the model's context length"));
  }
  std::mt19937 rng(7);
  std::vector<int32_t> tokens(static_cast<size_t>(a.tokens));
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(model->config().vocab_size));
  tokens[0] = 1;
  const size_t ct = store::kDefaultChunkTokens;
  const std::vector<std::string> levels = {"fp16", "q8", "cachegen:level=1", "cachegen:level=2", "cachegen:level=3",
                                           "cachegen:level=4", "cachegen:level=5"};
  auto backend = store::open_backend("mem://?capacity=8g");
  if (!backend.ok()) return fail(backend.status());
  auto encoder = store::ChunkEncoder::make(levels, model->fingerprint());
  if (!encoder.ok()) return fail(encoder.status());
  std::cerr << "storing " << tokens.size() << " tokens at " << levels.size() << " levels...\n";
  store::StoredChunk sample;
  auto stored =
      stream::publish_context(model, **backend, tokens, *encoder, ct, session_options(a.model), SIZE_MAX, &sample);
  if (!stored.ok()) return fail(stored.status());
  auto cal = stream::calibrate(model, sample, levels, session_options(a.model), 2);
  if (!cal.ok()) return fail(cal.status());

  std::shared_ptr<store::Backend> shared_backend = std::move(*backend);
  stream::BackendSource local(*shared_backend);
  // --via-server: chunks come from an in-process `kvforge serve` over loopback
  // HTTP, its server-side throttle following the trace (restarted per load).
  std::unique_ptr<server::Server> srv;
  std::unique_ptr<server::StoreClient> client;
  std::unique_ptr<stream::ChunkSource> over_http;
  if (a.via_server) {
    auto started = server::Server::start(shared_backend, {});
    if (!started.ok()) return fail(started.status());
    srv = std::move(*started);
    auto c = server::StoreClient::make(srv->url());
    if (!c.ok()) return fail(c.status());
    client = std::move(*c);
    over_http = std::make_unique<stream::ClientSource<server::StoreClient>>(*client);
  }
  model::Session session(model, session_options(a.model));
  auto load = [&](stream::ChunkSource& source, const std::string& mode, double deadline,
                  double initial_bw) -> Result<stream::LoadReport> {
    stream::LoadOptions o = load_options(*cal, deadline, ct);
    o.mode = mode;
    o.initial_bytes_per_second = initial_bw;

    session.reset();
    return stream::load_context(session, source, tokens, o);
  };
  // The yardsticks: full recompute TTFT here, and the bandwidth B0 at which
  // fetching the whole context at fp16 takes as long.
  auto warm = load(local, "recompute", 1e9, 1e9);
  if (!warm.ok()) return fail(warm.status());
  auto rec = load(local, "recompute", 1e9, 1e9);
  if (!rec.ok()) return fail(rec.status());
  const double recompute_s = std::min(warm->ttft_seconds, rec->ttft_seconds);
  const double fp16_bytes = cal->levels[0].bytes_per_token * static_cast<double>(tokens.size());
  const double b0 = fp16_bytes / recompute_s;  // bytes/second
  const double deadline = a.deadline_factor * recompute_s;
  std::cerr << "recompute " << recompute_s * 1e3 << " ms; fp16 context " << fp16_bytes / 1e6 << " MB; B0 "
            << fmt_mbps(b0) << " Mbit/s; deadline " << deadline * 1e3 << " ms\n";
  for (const auto& l : cal->levels) {
    std::cerr << "  " << l.level << ": " << l.bytes_per_token << " B/token, decode+import "
              << l.decode_seconds_per_token * 1e6 << " us/token\n";
  }
  std::cerr << "  prefill: " << cal->prefill_seconds_per_token * 1e6 << " us/token\n";

  // Traces in units of B0 (CacheGen's 0.1-10 Gbps maps to B0/10 .. 10 B0).
  const double b0_mbps = b0 * 8 / 1e6;
  const double period_ms = recompute_s * 1e3;
  auto trace_spec = [&](const std::string& kind, int run) {
    if (kind == "const") return "const:mbps=" + std::to_string(2 * b0_mbps);
    if (kind == "step") {
      return "step:mbps=" + std::to_string(4 * b0_mbps) + ",drop_at_ms=" +
             std::to_string(period_ms * (0.1 + 0.1 * run)) + ",factor=10";
    }
    return "random:seed=" + std::to_string(run + 1) + ",min_mbps=" + std::to_string(b0_mbps / 10) +
           ",max_mbps=" + std::to_string(b0_mbps * 10) + ",segment_ms=" + std::to_string(period_ms / 10);
  };
  const std::string fixed = "cachegen:level=" + std::to_string(a.fixed_level);
  // Methods reported, then the other fixed choices hindsight may pick.
  const std::vector<std::pair<std::string, std::string>> methods = {
      {"recompute", "recompute"}, {"fp16", "fp16"}, {"q8", "q8"}, {fixed, fixed}, {"cachegen_adaptive", "adaptive"}};
  std::vector<std::string> hindsight_only;
  for (int l = 1; l <= 5; ++l) {
    if (l != a.fixed_level) hindsight_only.push_back("cachegen:level=" + std::to_string(l));
  }

  eval::Table table({"method", "trace", "ttft_ms_mean", "ttft_ms_p50", "ttft_ms_p95", "deadline_met_frac",
                     "bytes_fetched", "hindsight_best_ttft_ms_mean"});
  for (const std::string kind : {"const", "step", "random"}) {
    std::map<std::string, std::vector<double>> ttft;
    std::map<std::string, std::vector<double>> bytes;
    std::map<std::string, int> met;
    std::vector<double> hindsight;
    for (int run = 0; run < a.runs; ++run) {
      auto trace = stream::make_trace(trace_spec(kind, run));
      if (!trace.ok()) return fail(trace.status());
      stream::ThrottledSource throttled(local, **trace, *core::Env::Default());
      std::shared_ptr<const stream::BandwidthTrace> link = std::move(*trace);
      double best = 1e300;
      auto one = [&](const std::string& name, const std::string& mode, bool report) -> Status {
        stream::ChunkSource* source = &throttled;
        if (srv) {
          srv->set_bandwidth([link](double t) { return link->bytes_per_second(t); });
          source = over_http.get();
        } else {
          throttled.restart();
        }
        KVF_ASSIGN_OR_RETURN(stream::LoadReport r, load(*source, mode, deadline, link->bytes_per_second(0)));
        if (mode != "adaptive") best = std::min(best, r.ttft_seconds);
        if (report) {
          ttft[name].push_back(r.ttft_seconds * 1e3);
          bytes[name].push_back(static_cast<double>(r.bytes_fetched));
          met[name] += r.deadline_met;
        }
        return Status::OK();
      };
      for (const auto& [name, mode] : methods) {
        if (Status s = one(name, mode, true); !s.ok()) return fail(s);
      }
      for (const auto& mode : hindsight_only) {
        if (Status s = one(mode, mode, false); !s.ok()) return fail(s);
      }
      hindsight.push_back(best * 1e3);
      std::cerr << kind << " run " << run + 1 << "/" << a.runs << ": adaptive " << ttft["cachegen_adaptive"].back()
                << " ms, hindsight best " << best * 1e3 << " ms\n";
    }
    for (const auto& [name, mode] : methods) {
      table.add({{"method", name},
                 {"trace", kind},
                 {"ttft_ms_mean", mean(ttft[name])},
                 {"ttft_ms_p50", percentile(ttft[name], 0.5)},
                 {"ttft_ms_p95", percentile(ttft[name], 0.95)},
                 {"deadline_met_frac", static_cast<double>(met[name]) / a.runs},
                 {"bytes_fetched", static_cast<int64_t>(mean(bytes[name]))},
                 {"hindsight_best_ttft_ms_mean", mean(hindsight)},
                 {"deadline_ms", deadline * 1e3},
                 {"runs", a.runs},
                 {"trace_spec", trace_spec(kind, 0)},
                 {"model", label},
                 {"tokens", a.tokens},
                 {"kv_type", std::string(kv::kv_type_name(a.model.kv_type))}});
    }
  }
  return emit(table, a.json);
}

}  // namespace

Runner register_bench_stream(CLI::App* bench_cmd) {
  auto a = std::make_shared<StreamArgs>();
  auto* cmd = bench_cmd->add_subcommand(
      "stream", "TTFT of loading a context's KV over an emulated link: recompute, fp16, q8, cachegen fixed/adaptive");
  add_model_flags(cmd, &a->model, /*optional=*/true);
  cmd->add_option("--synthetic", a->synthetic, "Synthetic model when no --model");
  cmd->add_option("--tokens", a->tokens, "Context tokens")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--runs", a->runs, "Runs per trace (random: one seed each; step: drop time moves)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--deadline-factor", a->deadline_factor, "TTFT deadline as a multiple of full recompute's")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--via-server", a->via_server,
                 "Fetch through an in-process kvforge serve on loopback, throttled server-side by the trace");
  cmd->add_option("--fixed-level", a->fixed_level, "The cachegen level of the fixed-level row")->check(CLI::Range(1, 5));
  add_json_flag(cmd, &a->json);
  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    return run_stream(*a);
  };
}

}  // namespace kvforge::cli

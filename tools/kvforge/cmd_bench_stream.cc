// kvforge bench stream: TTFT of loading a long context's KV cache over an
// emulated link (docs/STREAM.md): full recompute, raw fp16 fetch, q8 fetch,
// cachegen at a fixed level and cachegen adaptive, under a constant, a step
// and a random bandwidth trace, on a synthetic model with real prefill.
#include <algorithm>
#include <iostream>
#include <map>
#include <random>

#include "common.h"
#include "kvforge/core/percentile.h"
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

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

std::string fmt_mbps(double bytes_per_second) { return std::to_string(bytes_per_second * 8 / 1e6); }

// One method's results over a trace's runs.
struct TraceResults {
  std::map<std::string, std::vector<double>> ttft;   // ms per run
  std::map<std::string, std::vector<double>> bytes;  // fetched per run
  std::map<std::string, int> met;                    // runs within the deadline
  std::vector<double> hindsight;                     // best fixed choice's ms per run
};

// The benchmark's state: a stored context, its calibration, the sources chunks
// come from, and the yardsticks measured on it.
class StreamBench {
 public:
  explicit StreamBench(const StreamArgs& a) : a_(a) {}

  // The model, the context stored at every level, calibration, and with
  // --via-server the in-process server.
  Status prepare() {
    KVF_ASSIGN_OR_RETURN(auto loaded, load_or_synthesize(a_.model, a_.synthetic));
    label_ = loaded.first;
    model_ = loaded.second;
    if (a_.tokens > model_->config().context_length) {
      return Status::InvalidArgument("--tokens exceeds the model's context length");
    }
    std::mt19937 rng(7);
    tokens_.resize(static_cast<size_t>(a_.tokens));
    for (auto& t : tokens_) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(model_->config().vocab_size));
    tokens_[0] = 1;
    const std::vector<std::string> levels = {"fp16", "q8", "cachegen:level=1", "cachegen:level=2",
                                             "cachegen:level=3", "cachegen:level=4", "cachegen:level=5"};
    KVF_ASSIGN_OR_RETURN(std::unique_ptr<store::Backend> backend, store::open_backend("mem://?capacity=8g"));
    KVF_ASSIGN_OR_RETURN(auto encoder, store::ChunkEncoder::make(levels, model_->fingerprint()));
    std::cerr << "storing " << tokens_.size() << " tokens at " << levels.size() << " levels...\n";
    store::StoredChunk sample;
    session_ = std::make_unique<model::Session>(model_, session_options(a_.model));
    KVF_RETURN_IF_ERROR(
        stream::publish_context(*session_, *backend, tokens_, encoder, kChunkTokens, SIZE_MAX, &sample).status());
    KVF_ASSIGN_OR_RETURN(cal_, stream::calibrate(*session_, sample, levels, 2));
    backend_ = std::move(backend);
    local_ = std::make_unique<stream::BackendSource>(*backend_);
    // --via-server: chunks come from an in-process `kvforge store serve` over loopback
    // HTTP, its server-side throttle following the trace (restarted per load).
    if (a_.via_server) {
      KVF_ASSIGN_OR_RETURN(srv_, server::Server::start(backend_, {}));
      KVF_ASSIGN_OR_RETURN(client_, server::StoreClient::make(srv_->url()));
      over_http_ = std::make_unique<stream::ClientSource<server::StoreClient>>(*client_);
    }
    return Status::OK();
  }

  // The yardsticks: full recompute TTFT here, and the bandwidth B0 at which
  // fetching the whole context at fp16 takes as long.
  Status measure_recompute() {
    KVF_ASSIGN_OR_RETURN(stream::LoadReport warm, load(*local_, "recompute", 1e9, 1e9));
    KVF_ASSIGN_OR_RETURN(stream::LoadReport rec, load(*local_, "recompute", 1e9, 1e9));
    recompute_s_ = std::min(warm.ttft_seconds, rec.ttft_seconds);
    const double fp16_bytes = cal_.levels[0].bytes_per_token * static_cast<double>(tokens_.size());
    const double b0 = fp16_bytes / recompute_s_;  // bytes/second
    deadline_ = a_.deadline_factor * recompute_s_;
    std::cerr << "recompute " << recompute_s_ * 1e3 << " ms; fp16 context " << fp16_bytes / 1e6 << " MB; B0 "
              << fmt_mbps(b0) << " Mbit/s; deadline " << deadline_ * 1e3 << " ms\n";
    for (const auto& l : cal_.levels) {
      std::cerr << "  " << l.level << ": " << l.bytes_per_token << " B/token, decode+import "
                << l.decode_seconds_per_token * 1e6 << " us/token\n";
    }
    std::cerr << "  prefill: " << cal_.prefill_seconds_per_token * 1e6 << " us/token\n";
    b0_mbps_ = b0 * 8 / 1e6;
    return Status::OK();
  }

  // Every method over a.runs runs of one trace kind, a table row per method.
  Status run_trace(const std::string& kind, eval::Table* table) {
    TraceResults r;
    for (int run = 0; run < a_.runs; ++run) KVF_RETURN_IF_ERROR(run_once(kind, run, &r));
    for (const auto& [name, mode] : methods()) {
      table->add({{"method", name},
                  {"trace", kind},
                  {"ttft_ms_mean", mean(r.ttft[name])},
                  {"ttft_ms_p50", core::percentile(r.ttft[name], 0.5)},
                  {"ttft_ms_p95", core::percentile(r.ttft[name], 0.95)},
                  {"deadline_met_frac", static_cast<double>(r.met[name]) / a_.runs},
                  {"bytes_fetched", static_cast<int64_t>(mean(r.bytes[name]))},
                  {"hindsight_best_ttft_ms_mean", mean(r.hindsight)},
                  {"deadline_ms", deadline_ * 1e3},
                  {"runs", a_.runs},
                  {"trace_spec", trace_spec(kind, 0)},
                  {"model", label_},
                  {"tokens", a_.tokens},
                  {"kv_type", std::string(kv::kv_type_name(a_.model.kv_type))}});
    }
    return Status::OK();
  }

 private:
  static constexpr size_t kChunkTokens = store::kDefaultChunkTokens;

  Result<stream::LoadReport> load(stream::ChunkSource& source, const std::string& mode, double deadline,
                                  double initial_bw) {
    stream::LoadOptions o = load_options(cal_, deadline, kChunkTokens);
    o.mode = mode;
    o.initial_bytes_per_second = initial_bw;

    session_->reset();
    return stream::load_context(*session_, source, tokens_, o);
  }

  // Traces in units of B0 (CacheGen's 0.1-10 Gbps maps to B0/10 .. 10 B0).
  std::string trace_spec(const std::string& kind, int run) const {
    const double period_ms = recompute_s_ * 1e3;
    if (kind == "const") return "const:mbps=" + std::to_string(2 * b0_mbps_);
    if (kind == "step") {
      return "step:mbps=" + std::to_string(4 * b0_mbps_) + ",drop_at_ms=" +
             std::to_string(period_ms * (0.1 + 0.1 * run)) + ",factor=10";
    }
    return "random:seed=" + std::to_string(run + 1) + ",min_mbps=" + std::to_string(b0_mbps_ / 10) +
           ",max_mbps=" + std::to_string(b0_mbps_ * 10) + ",segment_ms=" + std::to_string(period_ms / 10);
  }

  std::string fixed_level() const { return "cachegen:level=" + std::to_string(a_.fixed_level); }

  // Methods reported: (name, load mode).
  std::vector<std::pair<std::string, std::string>> methods() const {
    const std::string fixed = fixed_level();
    return {{"recompute", "recompute"}, {"fp16", "fp16"}, {"q8", "q8"}, {fixed, fixed}, {"cachegen_adaptive", "adaptive"}};
  }

  // The other fixed choices hindsight may pick.
  std::vector<std::string> hindsight_only() const {
    std::vector<std::string> modes;
    for (int l = 1; l <= 5; ++l) {
      if (l != a_.fixed_level) modes.push_back("cachegen:level=" + std::to_string(l));
    }
    return modes;
  }

  // Every method, then the hindsight-only choices, over one trace run.
  Status run_once(const std::string& kind, int run, TraceResults* r) {
    KVF_ASSIGN_OR_RETURN(std::unique_ptr<stream::BandwidthTrace> trace, stream::make_trace(trace_spec(kind, run)));
    stream::ThrottledSource throttled(*local_, *trace, *core::Env::Default());
    std::shared_ptr<const stream::BandwidthTrace> link = std::move(trace);
    double best = 1e300;
    auto one = [&](const std::string& name, const std::string& mode, bool report) -> Status {
      stream::ChunkSource* source = &throttled;
      if (srv_) {
        srv_->set_bandwidth([link](double t) { return link->bytes_per_second(t); });
        source = over_http_.get();
      } else {
        throttled.restart();
      }
      KVF_ASSIGN_OR_RETURN(stream::LoadReport rep, load(*source, mode, deadline_, link->bytes_per_second(0)));
      if (mode != "adaptive") best = std::min(best, rep.ttft_seconds);
      if (report) {
        r->ttft[name].push_back(rep.ttft_seconds * 1e3);
        r->bytes[name].push_back(static_cast<double>(rep.bytes_fetched));
        r->met[name] += rep.deadline_met;
      }
      return Status::OK();
    };
    for (const auto& [name, mode] : methods()) KVF_RETURN_IF_ERROR(one(name, mode, true));
    for (const auto& mode : hindsight_only()) KVF_RETURN_IF_ERROR(one(mode, mode, false));
    r->hindsight.push_back(best * 1e3);
    std::cerr << kind << " run " << run + 1 << "/" << a_.runs << ": adaptive " << r->ttft["cachegen_adaptive"].back()
              << " ms, hindsight best " << best * 1e3 << " ms\n";
    return Status::OK();
  }

  const StreamArgs& a_;
  std::string label_;
  std::shared_ptr<const model::LlamaModel> model_;
  std::vector<int32_t> tokens_;
  stream::Calibration cal_;
  std::shared_ptr<store::Backend> backend_;
  std::unique_ptr<stream::BackendSource> local_;
  std::unique_ptr<server::Server> srv_;
  std::unique_ptr<server::StoreClient> client_;
  std::unique_ptr<stream::ChunkSource> over_http_;
  std::unique_ptr<model::Session> session_;
  double recompute_s_ = 0, deadline_ = 0, b0_mbps_ = 0;
};

int run_stream(const StreamArgs& a) {
  StreamBench bench(a);
  if (Status s = bench.prepare(); !s.ok()) return fail(s);
  if (Status s = bench.measure_recompute(); !s.ok()) return fail(s);
  eval::Table table({"method", "trace", "ttft_ms_mean", "ttft_ms_p50", "ttft_ms_p95", "deadline_met_frac",
                     "bytes_fetched", "hindsight_best_ttft_ms_mean"});
  for (const std::string kind : {"const", "step", "random"}) {
    if (Status s = bench.run_trace(kind, &table); !s.ok()) return fail(s);
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
                 "Fetch through an in-process kvforge store serve on loopback, throttled server-side by the trace");
  cmd->add_option("--fixed-level", a->fixed_level, "The cachegen level of the fixed-level row")->check(CLI::Range(1, 5));
  add_json_flag(cmd, &a->json);
  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    return run_stream(*a);
  };
}

}  // namespace kvforge::cli

// kvforge bench: prefill and decode speed, next to the memory-bandwidth bound
// for decode (weights read per token / measured bandwidth).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <random>
#include <sstream>

#include "common.h"
#include "kvforge/core/bandwidth.h"
#include "kvforge/core/kernels.h"

namespace kvforge::cli {

namespace {

struct BenchArgs {
  ModelFlags model;
  std::string synthetic;
  std::string threads = "1,2";
  int prompt_tokens = 128;
  int decode_tokens = 32;
  int repetitions = 3;
  int bandwidth_mb = 512;
  std::string json;
};

struct Stats {
  double mean = 0, sd = 0;
};
Stats stats(const std::vector<double>& xs) {
  Stats s;
  for (double x : xs) s.mean += x;
  s.mean /= static_cast<double>(xs.size());
  for (double x : xs) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = xs.size() > 1 ? std::sqrt(s.sd / static_cast<double>(xs.size() - 1)) : 0;
  return s;
}

Result<std::vector<int>> parse_threads(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 256) {
      return Status::InvalidArgument("--threads-list: '" + item + "' is not a thread count in [1, 256]");
    }
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) return Status::InvalidArgument("--threads-list is empty");
  return out;
}

Status bench_model(const std::string& label, const std::shared_ptr<const model::LlamaModel>& m, const BenchArgs& a,
                   const std::vector<int>& thread_counts, eval::Table* table) {
  const model::ModelConfig& c = m->config();
  if (a.prompt_tokens + a.decode_tokens + 1 > c.context_length) {
    return Status::InvalidArgument("--prompt-tokens + --decode-tokens exceed the model's context length " +
                                   std::to_string(c.context_length));
  }
  std::mt19937 rng(1234);
  std::vector<int32_t> prompt(static_cast<size_t>(a.prompt_tokens));
  for (auto& t : prompt) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(c.vocab_size));
  const double bytes_per_token = static_cast<double>(m->weight_bytes_per_token());
  std::string wtype(core::tensor_type_name(m->layers().front().wq->type));
  // The bound uses the best bandwidth seen at any thread count: the machine's
  // ceiling, so the ratio never flatters a run that happened to be slow.
  core::Bandwidth bw;
  for (int threads : thread_counts) {
    const core::Bandwidth b = core::measure_bandwidth(static_cast<size_t>(a.bandwidth_mb) << 20, 3, threads);
    bw.copy_gbps = std::max(bw.copy_gbps, b.copy_gbps);
    bw.read_gbps = std::max(bw.read_gbps, b.read_gbps);
  }
  for (int threads : thread_counts) {
    model::Session session(m, {.n_threads = threads});
    std::vector<double> prefill_tps, decode_tps;
    std::vector<float> logits;
    using clock = std::chrono::steady_clock;
    for (int r = 0; r < a.repetitions + 1; ++r) {  // the first run warms caches and pages in weights
      session.reset();
      auto t0 = clock::now();
      KVF_RETURN_IF_ERROR(session.forward(prompt, model::LogitsMode::kLast, &logits));
      const double prefill_s = std::chrono::duration<double>(clock::now() - t0).count();
      int32_t token = prompt.back();
      t0 = clock::now();
      for (int i = 0; i < a.decode_tokens; ++i) {
        KVF_RETURN_IF_ERROR(session.decode(token, &logits));
        token = static_cast<int32_t>((token * 7 + 13) % c.vocab_size);
      }
      const double decode_s = std::chrono::duration<double>(clock::now() - t0).count();
      if (r == 0) continue;
      prefill_tps.push_back(a.prompt_tokens / prefill_s);
      decode_tps.push_back(a.decode_tokens / decode_s);
    }
    const Stats pf = stats(prefill_tps), dc = stats(decode_tps);
    const double decode_ms = 1000.0 / dc.mean;
    const double bound_ms = bytes_per_token / (bw.copy_gbps * 1e9) * 1000.0;
    const double bound_read_ms = bytes_per_token / (bw.read_gbps * 1e9) * 1000.0;
    table->add({{"model", label},
                {"weights", wtype},
                {"threads", threads},
                {"prefill_tokens", a.prompt_tokens},
                {"prefill_tok_s", pf.mean},
                {"prefill_tok_s_sd", pf.sd},
                {"decode_tok_s", dc.mean},
                {"decode_tok_s_sd", dc.sd},
                {"decode_ms", decode_ms},
                {"weight_mb_per_token", bytes_per_token / 1e6},
                {"copy_gbps", bw.copy_gbps},
                {"read_gbps", bw.read_gbps},
                {"bound_ms", bound_ms},
                {"decode_vs_bound", decode_ms / bound_ms},
                {"decode_vs_read_bound", decode_ms / bound_read_ms},
                {"simd", core::simd_target_name()}});
  }
  return Status::OK();
}

}  // namespace

Runner register_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Prefill and decode tokens/s, with the memory-bandwidth bound for decode");
  add_model_flags(cmd, &a->model, /*optional=*/true);
  cmd->add_option("--synthetic", a->synthetic,
                  "Also build a random-weight model: preset (1b, small) or dim=,hidden=,layers=,heads=,kv_heads=,"
                  "vocab=,ctx=,type=f16|f32|bf16|q8_0|q4_0 (default when no --model: 1b)");
  cmd->add_option("--threads-list", a->threads, "Thread counts to run, comma separated");
  cmd->add_option("--prompt-tokens", a->prompt_tokens, "Tokens in the prefill batch")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--decode-tokens", a->decode_tokens, "Decode steps timed per repetition")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--repetitions,-r", a->repetitions, "Timed repetitions (after one warm-up)")->check(CLI::Range(1, 100));
  cmd->add_option("--bandwidth-mb", a->bandwidth_mb, "Buffer size for the memory-bandwidth measurement (MiB)")
      ->check(CLI::Range(16, 1 << 16));
  add_json_flag(cmd, &a->json);
  Runner evict_runner = register_bench_evict(cmd);
  Runner codec_runner = register_bench_codec(cmd);
  Runner pq_runner = register_bench_pq(cmd);
  Runner stream_runner = register_bench_stream(cmd);
  return [a, evict_runner, codec_runner, pq_runner, stream_runner]() {
    if (const int code = stream_runner(); code >= 0) return code;
    if (const int code = evict_runner(); code >= 0) return code;
    if (const int code = codec_runner(); code >= 0) return code;
    if (const int code = pq_runner(); code >= 0) return code;
    auto threads = parse_threads(a->threads);
    if (!threads.ok()) return fail(threads.status());
    eval::Table table({"model", "weights", "threads", "prefill_tok_s", "decode_tok_s", "decode_ms",
                       "weight_mb_per_token", "copy_gbps", "bound_ms", "decode_vs_bound"});
    if (!a->model.model.empty()) {
      auto m = load_or_synthesize(a->model, "");
      if (!m.ok()) return fail(m.status());
      Status s = bench_model(m->first, m->second, *a, *threads, &table);
      if (!s.ok()) return fail(s);
    }
    if (!a->synthetic.empty() || a->model.model.empty()) {
      auto m = load_or_synthesize(ModelFlags{"", "", 2}, a->synthetic);
      if (!m.ok()) return fail(m.status());
      Status s = bench_model(m->first, m->second, *a, *threads, &table);
      if (!s.ok()) return fail(s);
    }
    return emit(table, a->json);
  };
}

}  // namespace kvforge::cli

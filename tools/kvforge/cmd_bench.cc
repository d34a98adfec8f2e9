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
  int context = 0;  // tokens in the cache when decode is timed (0: the prompt)
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

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Drops every token after the first `n` of each head, so that the next decode
// runs at the same context again (the freed slots are reused: no new memory).
Status truncate_cache(kv::KvCache& cache, size_t n) {
  const kv::KvShape& shape = cache.shape();
  for (int l = 0; l < shape.n_layers; ++l) {
    for (int h = 0; h < shape.n_kv_heads; ++h) {
      kv::KvHead& head = cache.head(l, h);
      const auto live = head.live_slots();
      if (live.size() <= n) continue;
      const std::vector<int32_t> tail(live.begin() + static_cast<std::ptrdiff_t>(n), live.end());
      KVF_RETURN_IF_ERROR(head.remove(tail));
    }
  }
  cache.set_next_position(static_cast<int32_t>(n));
  return Status::OK();
}

// Decode tokens/s of `steps` steps from the session's current cache, once per
// repetition after one warm-up, each starting from the same context.
Result<std::vector<double>> decode_rates(model::Session& session, int32_t token, int steps, int repetitions) {
  const size_t context = static_cast<size_t>(session.next_position());
  const int vocab = session.model().config().vocab_size;
  std::vector<double> rates;
  std::vector<float> logits;
  for (int r = 0; r < repetitions + 1; ++r) {  // the first run warms caches and pages in weights
    int32_t t = token;
    const auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i) {
      KVF_RETURN_IF_ERROR(session.decode(t, &logits));
      t = static_cast<int32_t>((t * 7 + 13) % vocab);
    }
    const double secs = seconds_since(t0);
    KVF_RETURN_IF_ERROR(truncate_cache(session.cache(), context));
    if (r > 0) rates.push_back(steps / secs);
  }
  return rates;
}

// Prefill tokens/s of `prompt` into an empty cache, per repetition after a warm-up.
Result<std::vector<double>> prefill_rates(model::Session& session, const std::vector<int32_t>& prompt,
                                          int repetitions) {
  std::vector<double> rates;
  std::vector<float> logits;
  for (int r = 0; r < repetitions + 1; ++r) {
    session.reset();
    const auto t0 = Clock::now();
    KVF_RETURN_IF_ERROR(session.forward(prompt, model::LogitsMode::kLast, &logits));
    if (r > 0) rates.push_back(static_cast<double>(prompt.size()) / seconds_since(t0));
  }
  return rates;
}

std::vector<int32_t> random_tokens(size_t n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return out;
}

core::Bandwidth best_bandwidth(int mb, const std::vector<int>& thread_counts) {
  // The bound uses the best bandwidth seen at any thread count: the machine's
  // ceiling, so the ratio never flatters a run that happened to be slow.
  core::Bandwidth bw;
  for (int threads : thread_counts) {
    const core::Bandwidth b = core::measure_bandwidth(static_cast<size_t>(mb) << 20, 3, threads);
    bw.copy_gbps = std::max(bw.copy_gbps, b.copy_gbps);
    bw.read_gbps = std::max(bw.read_gbps, b.read_gbps);
  }
  return bw;
}

// One thread count: prefill of --prompt-tokens into an empty cache; decode from
// that prompt, or with --context N from a cache filled with N tokens first
// (one prefill, in batches of the session's batch size).
Status bench_threads(const std::string& label, const std::shared_ptr<const model::LlamaModel>& m, const BenchArgs& a,
                     int threads, const core::Bandwidth& bw, eval::Table* table) {
  const model::ModelConfig& c = m->config();
  const std::vector<int32_t> prompt = random_tokens(static_cast<size_t>(a.prompt_tokens), c.vocab_size, 1234);
  model::Session session(m, {.n_threads = threads, .kv_type = a.model.kv_type});
  KVF_ASSIGN_OR_RETURN(const std::vector<double> prefill_tps, prefill_rates(session, prompt, a.repetitions));
  if (a.context > 0) {
    session.reset();
    const std::vector<int32_t> context = random_tokens(static_cast<size_t>(a.context), c.vocab_size, 4321);
    KVF_RETURN_IF_ERROR(session.forward(context, model::LogitsMode::kNone, nullptr));
  }
  const int32_t first = a.context > 0 ? 1 : prompt.back();
  const size_t kv_bytes = session.cache().bytes_live();  // K+V at the decode context
  KVF_ASSIGN_OR_RETURN(const std::vector<double> decode_tps, decode_rates(session, first, a.decode_tokens,
                                                                          a.repetitions));
  const Stats pf = stats(prefill_tps), dc = stats(decode_tps);
  const double bytes_per_token = static_cast<double>(m->weight_bytes_per_token());
  const double decode_ms = 1000.0 / dc.mean;
  const double bound_ms = bytes_per_token / (bw.copy_gbps * 1e9) * 1000.0;
  const double bound_read_ms = bytes_per_token / (bw.read_gbps * 1e9) * 1000.0;
  table->add({{"model", label},
              {"weights", std::string(core::tensor_type_name(m->layers().front().wq->type))},
              {"threads", threads},
              {"kv_type", std::string(kv::kv_type_name(a.model.kv_type))},
              {"context", session.next_position()},
              {"kv_mb", static_cast<double>(kv_bytes) / 1e6},
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
  return Status::OK();
}

Status bench_model(const std::string& label, const std::shared_ptr<const model::LlamaModel>& m, const BenchArgs& a,
                   const std::vector<int>& thread_counts, eval::Table* table) {
  const int context_length = m->config().context_length;
  if (a.prompt_tokens + a.decode_tokens + 1 > context_length) {
    return Status::InvalidArgument("--prompt-tokens + --decode-tokens exceed the model's context length " +
                                   std::to_string(context_length));
  }
  if (a.context + a.decode_tokens + 1 > context_length) {
    return Status::InvalidArgument("--context + --decode-tokens exceed the model's context length " +
                                   std::to_string(context_length));
  }
  const core::Bandwidth bw = best_bandwidth(a.bandwidth_mb, thread_counts);
  for (int threads : thread_counts) KVF_RETURN_IF_ERROR(bench_threads(label, m, a, threads, bw, table));
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
  cmd->add_option("--context", a->context,
                  "Fill the cache with N tokens (one batched prefill) and time decode at that context (default: "
                  "decode after the --prompt-tokens prefill)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--repetitions,-r", a->repetitions, "Timed repetitions (after one warm-up)")->check(CLI::Range(1, 100));
  cmd->add_option("--bandwidth-mb", a->bandwidth_mb, "Buffer size for the memory-bandwidth measurement (MiB)")
      ->check(CLI::Range(16, 1 << 16));
  add_json_flag(cmd, &a->json);
  Runner evict_runner = register_bench_evict(cmd);
  Runner codec_runner = register_bench_codec(cmd);
  Runner pq_runner = register_bench_pq(cmd);
  Runner stream_runner = register_bench_stream(cmd);
  Runner check_runner = register_bench_check(cmd);
  return [a, evict_runner, codec_runner, pq_runner, stream_runner, check_runner]() {
    if (const int code = stream_runner(); code >= 0) return code;
    if (const int code = check_runner(); code >= 0) return code;
    if (const int code = evict_runner(); code >= 0) return code;
    if (const int code = codec_runner(); code >= 0) return code;
    if (const int code = pq_runner(); code >= 0) return code;
    auto threads = parse_threads(a->threads);
    if (!threads.ok()) return fail(threads.status());
    eval::Table table({"model", "weights", "threads", "kv_type", "context", "kv_mb", "prefill_tok_s", "decode_tok_s",
                       "decode_ms", "weight_mb_per_token", "copy_gbps", "bound_ms", "decode_vs_bound"});
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

// kvforge bench codec: encode and decode speed per core of every codec on a
// large KV (a long prefill of a 1B-class synthetic model, or --model's).
#include <chrono>
#include <iostream>
#include <random>

#include "common.h"
#include "kv_io.h"
#include "kvforge/codec/profile.h"
#include "kvforge/eval/codec_eval.h"

namespace kvforge::cli {

namespace {

struct BenchCodecArgs {
  ModelFlags model;
  std::string synthetic = "small", codecs = "all", json;
  int tokens = 4096;
  int repetitions = 3;
};

void add_bench_codec_options(CLI::App* cmd, BenchCodecArgs* a) {
  add_model_flags(cmd, &a->model, /*optional=*/true);
  cmd->add_option("--synthetic", a->synthetic, "Synthetic model when no --model (default: small)");
  cmd->add_option("--tokens", a->tokens, "Context tokens whose KV is coded")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--codecs", a->codecs, "Comma-separated codec specs, or 'all'");
  cmd->add_option("--repetitions,-r", a->repetitions, "Timed runs; the fastest counts")->check(CLI::Range(1, 100));
  add_json_flag(cmd, &a->json);
}

// The fastest of `repetitions` encodes and decodes of `view` on one core.
struct CodecTiming {
  double encode_s = 1e30, decode_s = 1e30;
  size_t frame_bytes = 0;
};

Result<CodecTiming> time_codec(const std::string& spec_text, const codec::KvChunkView& view,
                               const codec::Profile& profile, uint64_t fingerprint, int repetitions) {
  using Clock = std::chrono::steady_clock;
  const auto [spec, use_profile] = split_profile_suffix(spec_text);
  auto c = codec::make_codec(spec);
  if (!c.ok()) return c.status();
  codec::EncodeOptions eo;  // no pool: one core
  eo.model_fingerprint = fingerprint;
  codec::DecodeOptions dopt;
  if (use_profile) eo.profile = dopt.profile = &profile;
  CodecTiming timing;
  std::string frame;
  codec::KvChunk out;
  for (int r = 0; r < repetitions; ++r) {
    auto t0 = Clock::now();
    auto f = (*c)->encode(view, eo);
    timing.encode_s = std::min(timing.encode_s, std::chrono::duration<double>(Clock::now() - t0).count());
    if (!f.ok()) return f.status().with_context(spec_text);
    frame = std::move(*f);
    t0 = Clock::now();
    Status s = (*c)->decode(frame, &out, dopt);
    timing.decode_s = std::min(timing.decode_s, std::chrono::duration<double>(Clock::now() - t0).count());
    if (!s.ok()) return s.with_context(spec_text);
  }
  timing.frame_bytes = frame.size();
  return timing;
}

int run_bench_codec(const BenchCodecArgs& a) {
  auto loaded = load_or_synthesize(a.model, a.synthetic);
  if (!loaded.ok()) return fail(loaded.status());
  const auto& [label, model] = *loaded;
  if (a.tokens > model->config().context_length) {
    return fail(Status::InvalidArgument("--tokens exceeds the model's context length"));
  }
  std::mt19937 rng(5);
  std::vector<int32_t> tokens(static_cast<size_t>(a.tokens));
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(model->config().vocab_size));
  std::cerr << "prefilling " << a.tokens << " tokens...\n";
  auto dense = prefill_and_export(model, tokens, session_options(a.model));
  if (!dense.ok()) return fail(dense.status());
  const codec::KvChunkView view = dense->view();
  auto profile = codec::learn_profile(std::span<const codec::KvChunkView>(&view, 1), model->fingerprint());
  if (!profile.ok()) return fail(profile.status());

  const double fp16_bytes = static_cast<double>(view.elements()) * 2 * 2;
  eval::Table table({"codec", "tokens", "bytes_per_token", "ratio_vs_fp16", "encode_gbps_per_core",
                     "decode_gbps_per_core"});
  for (const auto& spec_text : codec_specs(a.codecs)) {
    auto timing = time_codec(spec_text, view, *profile, model->fingerprint(), a.repetitions);
    if (!timing.ok()) return fail(timing.status());
    const double frame_bytes = static_cast<double>(timing->frame_bytes);
    table.add({{"model", label},
               {"codec", spec_text},
               {"tokens", a.tokens},
               {"bytes_per_token", frame_bytes / a.tokens},
               {"ratio_vs_fp16", fp16_bytes / frame_bytes},
               {"encode_gbps_per_core", fp16_bytes / timing->encode_s / 1e9},
               {"decode_gbps_per_core", fp16_bytes / timing->decode_s / 1e9}});
  }
  return emit(table, a.json);
}

}  // namespace

Runner register_bench_codec(CLI::App* bench_cmd) {
  auto a = std::make_shared<BenchCodecArgs>();
  auto* cmd = bench_cmd->add_subcommand("codec", "Encode/decode GB/s per core of every codec on a large KV");
  add_bench_codec_options(cmd, a.get());
  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    return run_bench_codec(*a);
  };
}

}  // namespace kvforge::cli

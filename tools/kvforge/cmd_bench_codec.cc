// kvforge bench codec: encode and decode speed per core of every codec on a
// large KV (a long prefill of a 1B-class synthetic model, or --model's).
#include <chrono>
#include <iostream>
#include <random>
#include <sstream>

#include "common.h"
#include "kv_io.h"
#include "kvforge/codec/profile.h"
#include "kvforge/eval/codec_eval.h"

namespace kvforge::cli {

Runner register_bench_codec(CLI::App* bench_cmd) {
  struct Args {
    ModelFlags model;
    std::string synthetic = "small", codecs = "all", json;
    int tokens = 4096;
    int repetitions = 3;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = bench_cmd->add_subcommand("codec", "Encode/decode GB/s per core of every codec on a large KV");
  add_model_flags(cmd, &a->model, /*optional=*/true);
  cmd->add_option("--synthetic", a->synthetic, "Synthetic model when no --model (default: small)");
  cmd->add_option("--tokens", a->tokens, "Context tokens whose KV is coded")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--codecs", a->codecs, "Comma-separated codec specs, or 'all'");
  cmd->add_option("--repetitions,-r", a->repetitions, "Timed runs; the fastest counts")->check(CLI::Range(1, 100));
  add_json_flag(cmd, &a->json);
  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    auto loaded = load_or_synthesize(a->model, a->synthetic);
    if (!loaded.ok()) return fail(loaded.status());
    const auto& [label, model] = *loaded;
    if (a->tokens > model->config().context_length) {
      return fail(Status::InvalidArgument("--tokens exceeds the model's context length"));
    }
    std::mt19937 rng(5);
    std::vector<int32_t> tokens(static_cast<size_t>(a->tokens));
    for (auto& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(model->config().vocab_size));
    std::cerr << "prefilling " << a->tokens << " tokens...\n";
    auto dense = prefill_and_export(model, tokens, session_options(a->model));
    if (!dense.ok()) return fail(dense.status());
    const codec::KvChunkView view = eval::chunk_view(*dense);
    auto profile = codec::learn_profile(std::span<const codec::KvChunkView>(&view, 1), model->fingerprint());
    if (!profile.ok()) return fail(profile.status());

    std::vector<std::string> specs;
    if (a->codecs == "all") {
      for (const auto& name : codec::codec_names()) {
        if (name == "cachegen") {
          for (const auto& l : codec::levels(name)) {
            specs.push_back(name + ":level=" + l);
            specs.push_back(name + ":level=" + l + "+profile");
          }
        } else {
          specs.push_back(name);
        }
      }
    } else {
      std::stringstream ss(a->codecs);
      for (std::string s; std::getline(ss, s, ',');) specs.push_back(s);
    }
    const double fp16_bytes = static_cast<double>(view.elements()) * 2 * 2;
    eval::Table table({"codec", "tokens", "bytes_per_token", "ratio_vs_fp16", "encode_gbps_per_core",
                       "decode_gbps_per_core"});
    using Clock = std::chrono::steady_clock;
    for (const auto& spec_text : specs) {
      const bool use_profile = spec_text.size() > 8 && spec_text.substr(spec_text.size() - 8) == "+profile";
      auto c = codec::make_codec(use_profile ? spec_text.substr(0, spec_text.size() - 8) : spec_text);
      if (!c.ok()) return fail(c.status());
      codec::EncodeOptions eo;  // no pool: one core
      eo.model_fingerprint = model->fingerprint();
      codec::DecodeOptions dopt;
      if (use_profile) eo.profile = dopt.profile = &*profile;
      double best_enc = 1e30, best_dec = 1e30;
      std::string frame;
      codec::KvChunk out;
      for (int r = 0; r < a->repetitions; ++r) {
        auto t0 = Clock::now();
        auto f = (*c)->encode(view, eo);
        best_enc = std::min(best_enc, std::chrono::duration<double>(Clock::now() - t0).count());
        if (!f.ok()) return fail(f.status().with_context(spec_text));
        frame = std::move(*f);
        t0 = Clock::now();
        Status s = (*c)->decode(frame, &out, dopt);
        best_dec = std::min(best_dec, std::chrono::duration<double>(Clock::now() - t0).count());
        if (!s.ok()) return fail(s.with_context(spec_text));
      }
      table.add({{"model", label},
                 {"codec", spec_text},
                 {"tokens", a->tokens},
                 {"bytes_per_token", static_cast<double>(frame.size()) / a->tokens},
                 {"ratio_vs_fp16", fp16_bytes / static_cast<double>(frame.size())},
                 {"encode_gbps_per_core", fp16_bytes / best_enc / 1e9},
                 {"decode_gbps_per_core", fp16_bytes / best_dec / 1e9}});
    }
    return emit(table, a->json);
  };
}

}  // namespace kvforge::cli

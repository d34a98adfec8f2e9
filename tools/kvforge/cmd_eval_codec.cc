// kvforge eval codec: every codec and level on the same KV of real text: size,
// speed and what the decoded cache does to the model's predictions.
#include <algorithm>
#include <iostream>
#include <sstream>

#include "common.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/progress.h"
#include "kvforge/eval/codec_eval.h"
#include "kvforge/eval/documents.h"

namespace kvforge::cli {

namespace {
// Every codec at every level; cachegen levels also with the profile when given.
std::vector<std::string> all_specs(bool with_profile) {
  std::vector<std::string> specs;
  for (const auto& name : codec::codec_names()) {
    const auto lv = codec::levels(name);
    if (name == "cachegen") {
      for (const auto& l : lv) {
        specs.push_back(name + ":level=" + l);
        if (with_profile) specs.push_back(name + ":level=" + l + "+profile");
      }
    } else {
      specs.push_back(name);
    }
  }
  return specs;
}
}  // namespace

Runner register_eval_codec(CLI::App* eval_cmd) {
  struct Args {
    ModelFlags model;
    std::string text, codecs = "all", profile, json;
    size_t window = 0, limit = 0;
    double prefix_fraction = 0.5;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = eval_cmd->add_subcommand("codec", "KV codecs: size, speed and fidelity against the exact cache");
  add_model_flags(cmd, &a->model);
  cmd->add_option("--text", a->text, "Text file, one document per line")->required();
  cmd->add_option("--window", a->window, "Max positions per document incl. BOS (default: the model's context)");
  cmd->add_option("--limit", a->limit, "Only the first N documents (default: all)");
  cmd->add_option("--codecs", a->codecs,
                  "Comma-separated codec specs ('+profile' suffix: use --profile), or 'all'");
  cmd->add_option("--profile", a->profile, "Model profile (kvforge profile) for cachegen levels");
  cmd->add_option("--prefix-fraction", a->prefix_fraction, "Share of each document whose KV is encoded")
      ->check(CLI::Range(0.05, 0.95));
  add_json_flag(cmd, &a->json);
  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    std::optional<codec::Profile> profile;
    if (!a->profile.empty()) {
      auto p = codec::load_profile(a->profile);
      if (!p.ok()) return fail(p.status());
      profile = std::move(*p);
    }
    std::vector<std::string> specs;
    if (a->codecs == "all") {
      specs = all_specs(profile.has_value());
    } else {
      std::stringstream ss(a->codecs);
      for (std::string s; std::getline(ss, s, ',');) specs.push_back(s);
    }
    // q8 is the yardstick of ratio_vs_q8, so it always runs.
    if (std::find(specs.begin(), specs.end(), "q8") == specs.end()) specs.push_back("q8");
    auto loaded = load_model(a->model);
    if (!loaded.ok()) return fail(loaded.status());
    const size_t ctx = static_cast<size_t>((*loaded)->config().context_length);
    auto docs = eval::load_documents(a->text, *(*loaded)->tokenizer(),
                                     {.window = a->window > 0 ? std::min(a->window, ctx) : ctx, .limit = a->limit,
                                      .add_bos = true});
    if (!docs.ok()) return fail(docs.status());
    core::Progress progress("codec", docs->size());
    eval::CodecEvalOptions o;
    o.prefix_fraction = a->prefix_fraction;
    if (profile) o.profile = &*profile;
    o.run = run_options(a->model, progress);
    auto rows = eval::evaluate_codecs(*loaded, *docs, specs, o);
    progress.finish();
    if (!rows.ok()) return fail(rows.status());
    double q8_bytes = 0;
    for (const auto& r : *rows) {
      if (r.spec == "q8") q8_bytes = static_cast<double>(r.frame_bytes);
    }
    eval::Table table({"codec", "level", "profile", "bytes_per_token", "ratio_vs_fp16", "ratio_vs_q8", "encode_mbps",
                       "decode_mbps", "delta_ppl_pct", "kl", "top1_agreement"});
    for (const auto& r : *rows) {
      table.add({{"codec", r.codec},
                 {"level", r.level},
                 {"profile", r.profile},
                 {"spec", r.spec},
                 {"bytes_per_token", r.bytes_per_token()},
                 {"ratio_vs_fp16", r.ratio_vs_fp16()},
                 {"ratio_vs_q8", q8_bytes / static_cast<double>(r.frame_bytes)},
                 {"encode_mbps", r.encode_mbps()},
                 {"decode_mbps", r.decode_mbps()},
                 {"delta_ppl_pct", r.fidelity.delta_ppl_pct},
                 {"kl", r.fidelity.kl},
                 {"top1_agreement", r.fidelity.top1_agreement},
                 {"tokens_scored", r.fidelity.tokens},
                 {"tokens_encoded", static_cast<int64_t>(r.prefix_tokens)},
                 {"kv_type", std::string(kv::kv_type_name(a->model.kv_type))}});
    }
    return emit(table, a->json);
  };
}

}  // namespace kvforge::cli

// kvforge decode: verify and summarize a .kvf file (every checksum, every frame
// decoded; with --model, the frames must come from that model).
#include <cmath>
#include <cstdio>
#include <iostream>

#include "common.h"
#include "kv_io.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/file_io.h"

namespace kvforge::cli {

Runner register_decode(CLI::App& app) {
  struct Args {
    std::string file, profile, json;
    ModelFlags model;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("decode", "Verify and summarize a .kvf file");
  cmd->add_option("file", a->file, ".kvf file written by kvforge encode")->required();
  cmd->add_option("--profile", a->profile, "Model profile the frames were encoded with");
  add_model_flags(cmd, &a->model, /*optional=*/true, ModelUse::kFileOnly);
  add_json_flag(cmd, &a->json);
  return [a]() {
    auto bytes = core::read_file(a->file);
    if (!bytes.ok()) return fail(bytes.status());
    auto frames = split_frames(*bytes);
    if (!frames.ok()) return fail(frames.status().with_context(a->file));
    std::optional<codec::Profile> profile;
    if (!a->profile.empty()) {
      auto p = codec::load_profile(a->profile);
      if (!p.ok()) return fail(p.status());
      profile = std::move(*p);
    }
    codec::DecodeOptions opts;
    if (profile) opts.profile = &*profile;
    if (!a->model.model.empty()) {
      auto m = load_model(a->model, /*require_tokenizer=*/false);
      if (!m.ok()) return fail(m.status());
      opts.expected_fingerprint = (*m)->fingerprint();
    }
    eval::Table table({"frame", "codec", "tokens", "bytes", "bytes_per_token", "shape", "max_abs"});
    for (size_t i = 0; i < frames->size(); ++i) {
      auto info = codec::peek_header((*frames)[i]);
      codec::KvChunk chunk;
      Status s = info.ok() ? codec::decode_frame((*frames)[i], &chunk, opts) : info.status();
      if (!s.ok()) return fail(s.with_context(a->file + ": frame " + std::to_string(i)));
      float max_abs = 0;
      for (float x : chunk.k) max_abs = std::max(max_abs, std::fabs(x));
      for (float x : chunk.v) max_abs = std::max(max_abs, std::fabs(x));
      char fp[32];
      std::snprintf(fp, sizeof fp, "%016llx", static_cast<unsigned long long>(info->model_fingerprint));
      table.add({{"frame", static_cast<int64_t>(i)},
                 {"codec", info->spec + (info->profile_id ? "+profile" : "")},
                 {"tokens", static_cast<int64_t>(info->n_tokens)},
                 {"bytes", static_cast<int64_t>(info->frame_bytes)},
                 {"bytes_per_token", static_cast<double>(info->frame_bytes) / std::max<double>(1, info->n_tokens)},
                 {"shape", std::to_string(info->shape.n_layers) + "x" + std::to_string(info->shape.n_kv_heads) + "x" +
                               std::to_string(info->shape.head_dim)},
                 {"max_abs", max_abs},
                 {"model_fingerprint", fp}});
    }
    std::cerr << "all " << frames->size() << " frames verified\n";
    return emit(table, a->json);
  };
}

}  // namespace kvforge::cli

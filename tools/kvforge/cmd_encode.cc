// kvforge encode: prefill a text, encode its KV cache chunk by chunk, write a
// .kvf file (frames back to back, written atomically).
#include "common.h"
#include "kv_io.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/file_io.h"
#include "kvforge/eval/codec_eval.h"

namespace kvforge::cli {

Runner register_encode(CLI::App& app) {
  struct Args {
    ModelFlags model;
    std::string text, codec = "cachegen", profile, out;
    size_t chunk_tokens = 256;
    std::string json;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("encode", "Prefill a text and encode its KV cache into a .kvf file");
  add_model_flags(cmd, &a->model);
  cmd->add_option("--text", a->text, "Text file: the context (truncated to the model's context length)")->required();
  cmd->add_option("--codec", a->codec, "Codec spec, e.g. cachegen:level=3, q8, zstd, kivi2, fp16");
  cmd->add_option("--profile", a->profile, "Model profile (kvforge profile) for cachegen's tables");
  cmd->add_option("--chunk-tokens", a->chunk_tokens, "Tokens per frame")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-o,--output", a->out, "Output .kvf file")->required();
  add_json_flag(cmd, &a->json);
  return [a]() {
    auto codec = codec::make_codec(a->codec);
    if (!codec.ok()) return fail(codec.status());
    std::optional<codec::Profile> profile;
    if (!a->profile.empty()) {
      auto p = codec::load_profile(a->profile);
      if (!p.ok()) return fail(p.status());
      profile = std::move(*p);
    }
    auto loaded = load_model(a->model);
    if (!loaded.ok()) return fail(loaded.status());
    const auto& model = *loaded;
    auto context = context_tokens(*model, a->text);
    if (!context.ok()) return fail(context.status());
    const std::vector<int32_t>& tokens = *context;
    auto dense = prefill_and_export(model, tokens, session_options(a->model));
    if (!dense.ok()) return fail(dense.status());
    codec::EncodeOptions eo;
    eo.model_fingerprint = model->fingerprint();
    if (profile) eo.profile = &*profile;
    std::string file;
    size_t frames = 0;
    for (size_t begin = 0; begin < tokens.size(); begin += a->chunk_tokens) {
      const kv::DenseKvF32 part = core::slice_tokens(*dense, begin, std::min(tokens.size(), begin + a->chunk_tokens));
      eo.first_position = part.positions.empty() ? static_cast<int32_t>(begin) : part.positions[0];
      auto frame = (*codec)->encode(part.view(), eo);
      if (!frame.ok()) return fail(frame.status().with_context("chunk " + std::to_string(frames)));
      file += *frame;
      ++frames;
    }
    Status s = core::write_file_atomic(a->out, file);
    if (!s.ok()) return fail(s);
    const double fp16 = static_cast<double>(dense->k.size() + dense->v.size()) * 2.0;
    eval::Table table({"file", "codec", "tokens", "frames", "bytes", "bytes_per_token", "ratio_vs_fp16"});
    table.add({{"file", a->out},
               {"codec", (*codec)->spec() + (profile ? "+profile" : "")},
               {"tokens", static_cast<int64_t>(tokens.size())},
               {"frames", static_cast<int64_t>(frames)},
               {"bytes", static_cast<int64_t>(file.size())},
               {"bytes_per_token", static_cast<double>(file.size()) / static_cast<double>(tokens.size())},
               {"ratio_vs_fp16", fp16 / static_cast<double>(file.size())}});
    return emit(table, a->json);
  };
}

}  // namespace kvforge::cli

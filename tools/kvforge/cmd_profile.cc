// kvforge profile: learn the cachegen symbol distributions of a model once,
// from its KV on sample text, into a small file encoder and decoder share.
#include <iostream>

#include "common.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/progress.h"
#include "kvforge/eval/codec_eval.h"
#include "kvforge/eval/documents.h"

namespace kvforge::cli {

Runner register_profile(CLI::App& app) {
  struct Args {
    ModelFlags model;
    std::string text, out;
    size_t limit = 100;
    int block = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("profile", "Learn a model profile (cachegen symbol tables) from sample text");
  add_model_flags(cmd, &a->model);
  cmd->add_option("--text", a->text, "Sample text, one document per line")->required();
  cmd->add_option("--limit", a->limit, "Documents to learn from")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--block", a->block,
                  "Channels per basis block (whole heads or a divisor of head_dim; default: a layer's channels "
                  "when <= 64, else 8). Larger blocks compress more and decode slower")
      ->check(CLI::Range(0, 256));
  cmd->add_option("-o,--output", a->out, "Output .kvprof file")->required();
  return [a]() {
    auto loaded = load_model(a->model);
    if (!loaded.ok()) return fail(loaded.status());
    const auto& model = *loaded;
    auto docs = eval::load_documents(a->text, *model->tokenizer(),
                                     {.window = static_cast<size_t>(model->config().context_length),
                                      .limit = a->limit,
                                      .add_bos = true});
    if (!docs.ok()) return fail(docs.status());
    core::Progress progress("prefill", docs->size());
    auto profile = eval::learn_model_profile(model, *docs, session_options(a->model), &progress, a->block);
    progress.finish();
    if (!profile.ok()) return fail(profile.status());
    Status s = codec::save_profile(a->out, *profile);
    if (!s.ok()) return fail(s);
    std::cout << "profile of " << docs->size() << " documents written to " << a->out << " ("
              << profile->serialize().size() << " bytes)\n";
    return 0;
  };
}

}  // namespace kvforge::cli

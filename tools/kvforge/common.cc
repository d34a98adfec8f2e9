#include "common.h"

#include <algorithm>
#include <iostream>

#include "kvforge/core/progress.h"
#include "kvforge/eval/documents.h"
#include "kvforge/model/synthetic.h"

namespace kvforge::cli {

void add_model_flags(CLI::App* app, ModelFlags* flags, bool optional, ModelUse use) {
  auto* opt = app->add_option("--model,-m", flags->model, "Model file: GGUF or llama2.c checkpoint");
  if (!optional) opt->required();
  app->add_option("--tokenizer", flags->tokenizer, "llama2.c tokenizer.bin (required for llama2.c checkpoints)");
  app->add_option("--threads,-t", flags->threads, "Worker threads")->check(CLI::Range(1, 256));
  if (use == ModelUse::kSessions) add_kv_type_flag(app, &flags->kv_type);
}

void add_json_flag(CLI::App* app, std::string* path) {
  app->add_option("--json", *path, "Also write the rows as {\"rows\":[...]} to this file");
}

void add_kv_type_flag(CLI::App* app, kv::KvType* type) {
  app->add_option_function<std::string>(
         "--kv-type",
         [type](const std::string& name) {
           auto t = kv::parse_kv_type(name);
           if (!t.ok()) throw CLI::ValidationError("--kv-type", t.status().message());
           *type = *t;
         },
         "KV cache storage: f16 (default, as llama.cpp's; attention as llama.cpp computes it) or f32 (twice "
         "the memory; what llama2.c's run.c computes)")
      ->type_name("f16|f32");
}

model::SessionOptions session_options(const ModelFlags& flags) {
  model::SessionOptions o;
  o.n_threads = flags.threads;
  o.kv_type = flags.kv_type;
  return o;
}

Result<std::shared_ptr<const model::LlamaModel>> load_model(const ModelFlags& flags, bool require_tokenizer) {
  model::LoadOptions o;
  o.model_path = flags.model;
  o.tokenizer_path = flags.tokenizer;
  o.require_tokenizer = require_tokenizer;
  return model::LlamaModel::load(o);
}

Result<std::pair<std::string, std::shared_ptr<const model::LlamaModel>>> load_or_synthesize(
    const ModelFlags& flags, const std::string& synthetic) {
  if (!flags.model.empty()) {
    KVF_ASSIGN_OR_RETURN(auto m, load_model(flags, /*require_tokenizer=*/false));
    return std::make_pair(flags.model, m);
  }
  const std::string spec_text = synthetic.empty() ? "1b" : synthetic;
  KVF_ASSIGN_OR_RETURN(model::SyntheticSpec spec, model::parse_synthetic_spec(spec_text));
  std::cerr << "building synthetic model (" << spec_text << ")...\n";
  KVF_ASSIGN_OR_RETURN(auto m, model::make_synthetic_model(spec, std::max(1, flags.threads)));
  return std::make_pair("synthetic:" + spec_text, m);
}

int fail(const Status& status) {
  std::cerr << "kvforge: " << status.to_string() << "\n";
  return 1;
}

int emit(const eval::Table& table, const std::string& json_path) {
  table.print(std::cout);
  if (!json_path.empty()) {
    Status s = table.write_json(json_path);
    if (!s.ok()) return fail(s);
  }
  return 0;
}

void add_text_flags(CLI::App* cmd, TextFlags* f) {
  cmd->add_option("--text", f->text, "Text file, one document per line")->required();
  cmd->add_option("--window", f->window, "Max positions per document incl. BOS (default: the model's context)");
  cmd->add_option("--limit", f->limit, "Only the first N documents (default: all)");
}

Result<std::vector<std::vector<int32_t>>> documents_for(const model::LlamaModel& m, const TextFlags& f) {
  const size_t ctx = static_cast<size_t>(m.config().context_length);
  if (f.window > ctx) {
    return Status::InvalidArgument("--window " + std::to_string(f.window) + " exceeds the model's context length " +
                                   std::to_string(ctx));
  }
  eval::DocumentOptions o;
  o.window = f.window > 0 ? f.window : ctx;
  o.limit = f.limit;
  return eval::load_documents(f.text, *m.tokenizer(), o);
}

eval::RunOptions run_options(const ModelFlags& flags, core::Progress& progress) {
  eval::RunOptions o;
  o.workers = flags.threads;
  o.threads_per_worker = 1;
  o.kv_type = flags.kv_type;
  o.progress = [&progress](size_t done, size_t) { progress.update(done); };
  return o;
}

}  // namespace kvforge::cli

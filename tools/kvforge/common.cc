#include "common.h"

#include <algorithm>
#include <iostream>

#include "kvforge/model/synthetic.h"

namespace kvforge::cli {

void add_model_flags(CLI::App* app, ModelFlags* flags, bool optional) {
  auto* opt = app->add_option("--model,-m", flags->model, "Model file: GGUF or llama2.c checkpoint");
  if (!optional) opt->required();
  app->add_option("--tokenizer", flags->tokenizer, "llama2.c tokenizer.bin (required for llama2.c checkpoints)");
  app->add_option("--threads,-t", flags->threads, "Worker threads")->check(CLI::Range(1, 256));
}

void add_json_flag(CLI::App* app, std::string* path) {
  app->add_option("--json", *path, "Also write the rows as {\"rows\":[...]} to this file");
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

}  // namespace kvforge::cli

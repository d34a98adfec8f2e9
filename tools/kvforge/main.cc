// kvforge: one CLI over the libraries; each subcommand lives in its own file.
#include <iostream>
#include <map>

#include "common.h"

int main(int argc, char** argv) {
  CLI::App app{"kvforge: a KV-cache engine for Llama-family models on CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kvforge 0.1.0");
  std::map<std::string, kvforge::cli::Runner> runners;
  runners["info"] = kvforge::cli::register_info(app);
  runners["logits"] = kvforge::cli::register_logits(app);
  runners["synth"] = kvforge::cli::register_synth(app);
  runners["generate"] = kvforge::cli::register_generate(app);
  runners["eval"] = kvforge::cli::register_eval(app);
  runners["bench"] = kvforge::cli::register_bench(app);
  runners["encode"] = kvforge::cli::register_encode(app);
  runners["decode"] = kvforge::cli::register_decode(app);
  runners["profile"] = kvforge::cli::register_profile(app);
  runners["store"] = kvforge::cli::register_store(app);
  runners["serve"] = kvforge::cli::register_serve(app);
  runners["load"] = kvforge::cli::register_load(app);
  runners["tokenize"] = kvforge::cli::register_tokenize(app);
  CLI11_PARSE(app, argc, argv);
  for (auto* sub : app.get_subcommands()) {
    auto it = runners.find(sub->get_name());
    if (it != runners.end()) return it->second();
  }
  std::cerr << app.help();
  return 2;
}

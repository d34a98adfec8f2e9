// kvforge synth: a random-weight model at real shapes written as a GGUF file,
// for speed measurements side by side with llama.cpp on the same file (random
// weights are for speed and shapes only, never quality).
#include <iostream>

#include "common.h"
#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/gguf_writer.h"
#include "kvforge/model/synthetic.h"

namespace kvforge::cli {

Runner register_synth(CLI::App& app) {
  struct Args {
    std::string spec = "1b";
    std::string vocab;
    std::string out;
    int threads = 2;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("synth", "Write a random-weight model of a given shape and type as GGUF");
  cmd->add_option("--synthetic", a->spec, "Preset (1b, small) or dim=,hidden=,layers=,heads=,kv_heads=,vocab=,ctx=,type=");
  cmd->add_option("--vocab", a->vocab,
                  "A GGUF whose vocabulary the file carries (its size must equal the spec's vocab), so that "
                  "tools needing a tokenizer (llama-bench) accept the file");
  cmd->add_option("-o,--out", a->out, "Output .gguf")->required();
  cmd->add_option("--threads,-t", a->threads, "Worker threads")->check(CLI::Range(1, 256));
  return [a]() {
    auto spec = model::parse_synthetic_spec(a->spec);
    if (!spec.ok()) return fail(spec.status());
    auto m = model::make_synthetic_model(*spec, a->threads);
    if (!m.ok()) return fail(m.status());
    model::GgufWriter g;
    if (Status s = g.add_model(**m); !s.ok()) return fail(s);
    if (!a->vocab.empty()) {
      auto v = model::read_gguf_vocab(a->vocab);
      if (!v.ok()) return fail(v.status());
      if (static_cast<int>(v->tokens.size()) != spec->vocab_size) {
        return fail(Status::InvalidArgument(a->vocab + " holds " + std::to_string(v->tokens.size()) +
                                            " tokens but the spec's vocab is " + std::to_string(spec->vocab_size)));
      }
      g.add_vocab(*v);
    }
    if (Status s = g.write(a->out); !s.ok()) return fail(s);
    std::cerr << "wrote " << a->out << " (" << (**m).weight_bytes_total() / (1 << 20) << " MiB of weights)\n";
    return 0;
  };
}

}  // namespace kvforge::cli

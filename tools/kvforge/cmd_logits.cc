// kvforge logits: every position's logits from one forward pass, in the files
// llama.cpp's llama-logits writes, and optionally their agreement with a
// reference set (llama.cpp's) on the same ids.
#include <iostream>

#include "common.h"
#include "kvforge/eval/logit_file.h"

namespace kvforge::cli {

namespace {

struct LogitsArgs {
  ModelFlags model;
  std::string prompt;
  std::string ids_path;
  std::string out_prefix;
  std::string ref_logits;
  std::string json;
};

Result<std::vector<int32_t>> input_ids(const LogitsArgs& a, const model::LlamaModel& m) {
  if (!a.ids_path.empty()) return eval::read_ids_file(a.ids_path);
  if (m.tokenizer() == nullptr) {
    return Status::InvalidArgument(a.model.model + " carries no vocabulary: give --ids or --tokenizer");
  }
  return m.tokenizer()->encode(a.prompt, /*add_special=*/true);
}

int run_logits(const LogitsArgs& a) {
  auto loaded = load_model(a.model, /*require_tokenizer=*/a.ids_path.empty());
  if (!loaded.ok()) return fail(loaded.status());
  const model::LlamaModel& m = **loaded;
  auto ids = input_ids(a, m);
  if (!ids.ok()) return fail(ids.status());
  if (ids->empty()) return fail(Status::InvalidArgument("no tokens to run (empty prompt or ids file)"));
  model::SessionOptions so;
  so.n_threads = a.model.threads;
  so.batch_size = static_cast<int>(ids->size());  // one batch, as llama-logits runs it
  so.max_positions = std::max<int>(m.config().context_length, static_cast<int>(ids->size()));
  so.kv_type = a.model.kv_type;
  model::Session session(*loaded, so);
  std::vector<float> logits;
  if (Status s = session.forward(*ids, model::LogitsMode::kAll, &logits); !s.ok()) return fail(s);
  if (!a.out_prefix.empty()) {
    if (Status s = eval::write_logits_files(a.out_prefix, *ids, logits); !s.ok()) return fail(s);
    std::cerr << "wrote " << a.out_prefix << ".ids and " << a.out_prefix << ".logits (" << ids->size() << " x "
              << m.config().vocab_size << ")\n";
  }
  if (a.ref_logits.empty()) return 0;
  const size_t vocab = static_cast<size_t>(m.config().vocab_size);
  auto ref = eval::read_logits_file(a.ref_logits, ids->size(), vocab);
  if (!ref.ok()) return fail(ref.status());
  const eval::LogitAgreement r = eval::compare_logits(*ref, logits, vocab);
  eval::Table table({"model", "tokens", "kl", "max_kl", "top1_agreement", "max_abs_diff"});
  table.add({{"model", a.model.model}, {"tokens", r.tokens}, {"kl", r.kl}, {"max_kl", r.max_kl},
             {"top1_agreement", r.top1_agreement}, {"max_abs_diff", r.max_abs_diff}});
  return emit(table, a.json);
}

}  // namespace

Runner register_logits(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "Logits of every position (llama.cpp llama-logits layout), optionally "
                                           "compared with a reference");
  auto a = std::make_shared<LogitsArgs>();
  add_model_flags(cmd, &a->model);
  auto* prompt = cmd->add_option("--prompt,-p", a->prompt, "Text to tokenize (BOS as the vocabulary says)");
  auto* ids = cmd->add_option("--ids", a->ids_path, "Token ids file (whitespace-separated), instead of --prompt");
  prompt->excludes(ids);
  cmd->add_option("-o,--out", a->out_prefix, "Write PREFIX.ids and PREFIX.logits (float32 LE, n_tokens x n_vocab)");
  cmd->add_option("--ref", a->ref_logits,
                  "Reference logits on the same ids: print KL(ref || kvforge), top-1 agreement, max |diff|");
  add_json_flag(cmd, &a->json);
  return [cmd, prompt, ids, a]() {
    if (prompt->count() == 0 && ids->count() == 0) {
      return fail(Status::InvalidArgument("logits needs --prompt TEXT or --ids FILE"));
    }
    if (a->out_prefix.empty() && a->ref_logits.empty()) {
      return fail(Status::InvalidArgument("logits needs -o PREFIX, --ref FILE or both"));
    }
    return run_logits(*a);
  };
}

}  // namespace kvforge::cli

// Pieces every kvforge subcommand shares: model flags, loading, errors, JSON output.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "kvforge/core/status.h"
#include "kvforge/eval/perplexity.h"
#include "kvforge/eval/table.h"
#include "kvforge/model/llama.h"

namespace kvforge::core {
class Progress;
}

namespace kvforge::cli {

struct ModelFlags {
  std::string model;
  std::string tokenizer;
  int threads = 2;
  // How every session of the command stores keys and values (--kv-type).
  kv::KvType kv_type = kv::KvType::kF16;
};

// What a command does with its model: run sessions over a KV cache (it takes
// --kv-type), or only read the file (tokenize, fingerprint checks).
enum class ModelUse { kSessions, kFileOnly };

// Adds --model (required unless `optional`), --tokenizer, --threads and, for
// kSessions, --kv-type.
void add_model_flags(CLI::App* app, ModelFlags* flags, bool optional = false, ModelUse use = ModelUse::kSessions);
void add_json_flag(CLI::App* app, std::string* path);
// --kv-type f16|f32 (how the KV cache stores keys and values; f16 by default).
// An unknown name is a CLI error naming the choices.
void add_kv_type_flag(CLI::App* app, kv::KvType* type);
// A session's options from the flags: --threads threads, --kv-type cache.
model::SessionOptions session_options(const ModelFlags& flags);

Result<std::shared_ptr<const model::LlamaModel>> load_model(const ModelFlags& flags, bool require_tokenizer = true);

// For benches: the --model given, else a synthetic model built from `synthetic`
// (a preset or key=value list; empty means "1b"). Returns (label, model).
Result<std::pair<std::string, std::shared_ptr<const model::LlamaModel>>> load_or_synthesize(
    const ModelFlags& flags, const std::string& synthetic);

// --text FILE, --window N, --limit N of the eval subcommands.
struct TextFlags {
  std::string text;
  size_t window = 0;
  size_t limit = 0;
};
void add_text_flags(CLI::App* cmd, TextFlags* f);
// The documents of --text, BOS first, cut to --window (default: the model's context).
Result<std::vector<std::vector<int32_t>>> documents_for(const model::LlamaModel& m, const TextFlags& f);
// Documents run in parallel, one single-threaded session per --threads, each
// with the --kv-type cache.
eval::RunOptions run_options(const ModelFlags& flags, core::Progress& progress);

// Prints "kvforge: <status>" to stderr; returns the process exit code (1).
int fail(const Status& status);

// Prints the table and writes --json when given. Returns the exit code.
int emit(const eval::Table& table, const std::string& json_path);

// Subcommand registration: each returns the function that runs it.
using Runner = std::function<int()>;
Runner register_info(CLI::App& app);
Runner register_logits(CLI::App& app);
Runner register_synth(CLI::App& app);
Runner register_generate(CLI::App& app);
Runner register_eval(CLI::App& app);
Runner register_bench(CLI::App& app);
// `eval` subcommands in their own files; each runner returns -1 when its
// subcommand was not the one given.
Runner register_eval_evict(CLI::App* eval_cmd);
Runner register_bench_evict(CLI::App* bench_cmd);
Runner register_eval_codec(CLI::App* eval_cmd);
Runner register_bench_codec(CLI::App* bench_cmd);
Runner register_eval_pq(CLI::App* eval_cmd);
Runner register_bench_pq(CLI::App* bench_cmd);
Runner register_encode(CLI::App& app);
Runner register_decode(CLI::App& app);
Runner register_profile(CLI::App& app);
Runner register_store(CLI::App& app);
Runner register_serve(CLI::App& app);
// `kvforge store serve` (the chunk-store server), a subcommand of `store`.
std::pair<CLI::App*, Runner> register_store_serve(CLI::App* store);
Runner register_load(CLI::App& app);
Runner register_tokenize(CLI::App& app);
Runner register_bench_stream(CLI::App* bench_cmd);
Runner register_bench_check(CLI::App* bench_cmd);

}  // namespace kvforge::cli

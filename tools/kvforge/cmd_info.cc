// kvforge info: what a model file holds and what its KV cache costs.
#include <iostream>
#include <map>

#include "common.h"
#include "kvforge/kv/kv_cache.h"

namespace kvforge::cli {

Runner register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show a model's configuration, tensor types and KV bytes per token");
  auto flags = std::make_shared<ModelFlags>();
  auto json = std::make_shared<std::string>();
  add_model_flags(cmd, flags.get());
  add_json_flag(cmd, json.get());
  return [flags, json]() {
    auto loaded = load_model(*flags, /*require_tokenizer=*/false);
    if (!loaded.ok()) return fail(loaded.status());
    const model::LlamaModel& m = **loaded;
    const model::ModelConfig& c = m.config();
    std::map<std::string, int> type_counts;
    int64_t params = 0;
    for (const auto& t : m.file().tensors) {
      type_counts[std::string(core::tensor_type_name(t.type))]++;
      params += t.elements();
    }
    std::string types;
    for (const auto& [name, count] : type_counts) types += (types.empty() ? "" : ", ") + name + " x" + std::to_string(count);
    const auto shape = m.kv_shape();
    eval::Table table({"field", "value"});
    auto row = [&](const std::string& k, nlohmann::json v) { table.add({{"field", k}, {"value", v}}); };
    row("file", m.file().path);
    row("format", m.file().format);
    row("architecture", c.architecture);
    row("name", c.name);
    row("dim", c.dim);
    row("hidden_dim", c.hidden_dim);
    row("n_layers", c.n_layers);
    row("n_heads", c.n_heads);
    row("n_kv_heads", c.n_kv_heads);
    row("head_dim", c.head_dim);
    row("vocab_size", c.vocab_size);
    row("context_length", c.context_length);
    row("rms_eps", c.rms_eps);
    row("rope_theta", c.rope_theta);
    row("rope", std::string(c.rope_style == model::ModelConfig::RopeStyle::kNeox ? "neox" : "adjacent pairs") +
                    ", " + std::to_string(c.rotary_dim()) + " of " + std::to_string(c.head_dim) + " dims" +
                    (c.rope_freq_scale != 1.0f ? ", linear scale " + std::to_string(c.rope_freq_scale) : "") +
                    (m.rope_freq_factors() ? ", frequency factors" : ""));
    row("tied_output", c.tied_output ? "yes" : "no");
    row("tensors", static_cast<int64_t>(m.file().tensors.size()));
    row("tensor_types", types);
    row("parameters", params);
    row("weight_bytes", static_cast<int64_t>(m.weight_bytes_total()));
    // K+V bytes per token in the session's type (--kv-type) and in both types;
    // llama.cpp's figure for its default F16 cache is the same formula,
    // n_layers * n_kv_heads * head_dim * 2 (K and V) * 2 bytes. The int32
    // position kvforge keeps per slot and head (eviction leaves heads with
    // different tokens) has no llama.cpp counterpart, so it is its own row.
    const auto per_token = [&](kv::KvType t) { return static_cast<int64_t>(kv::KvCache::bytes_per_token(shape, t)); };
    const int64_t ctx = c.context_length;
    row("kv_type", std::string(kv::kv_type_name(flags->kv_type)));
    row("kv_bytes_per_token", per_token(flags->kv_type));
    row("kv_bytes_per_token_f16", per_token(kv::KvType::kF16));
    row("kv_bytes_per_token_f32", per_token(kv::KvType::kF32));
    // As llama.cpp sizes its cache: n_layer * (n_embd_k_gqa + n_embd_v_gqa) * sizeof(fp16).
    const int64_t embd_gqa = int64_t{c.n_kv_heads} * c.head_dim;
    row("llama_cpp_kv_bytes_per_token_f16", int64_t{c.n_layers} * (embd_gqa + embd_gqa) * 2);
    row("position_bytes_per_token", static_cast<int64_t>(kv::KvCache::position_bytes_per_token(shape)));
    row("kv_bytes_full_context", per_token(flags->kv_type) * ctx);
    row("kv_bytes_full_context_f16", per_token(kv::KvType::kF16) * ctx);
    row("tokenizer", m.tokenizer() ? m.tokenizer()->vocab().model + " (" + std::to_string(m.tokenizer()->vocab_size()) +
                                         " tokens)"
                                   : "none (pass --tokenizer)");
    return emit(table, *json);
  };
}

}  // namespace kvforge::cli

#include "model/gguf_hyperparameters.h"

#include <optional>
#include <string>

namespace kvforge::model::gguf {

namespace {

// The architectures whose forward pass Session runs, and how each rotates.
struct ArchInfo {
  const char* name;
  ModelConfig::RopeStyle rope;
};
constexpr ArchInfo kArchitectures[] = {
    {"llama", ModelConfig::RopeStyle::kAdjacentPairs},  // Llama 1-3, Mistral, TinyLlama, SmolLM, ...
    {"qwen2", ModelConfig::RopeStyle::kNeox},           // + q/k/v biases
    {"qwen3", ModelConfig::RopeStyle::kNeox},           // + per-head q/k RMSNorm
};

// rope.scaling.type / factor (and the older rope.scale_linear) as a position
// multiplier. Only scalings that are a plain position scale are accepted: YaRN
// and LongRoPE change the rotation itself and would run silently wrong.
Result<float> read_rope_scale(const Metadata& md, const std::string& a, const std::string& path) {
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> type, get_string(md, a + "rope.scaling.type", path));
  KVF_ASSIGN_OR_RETURN(std::optional<double> factor, get_float(md, a + "rope.scaling.factor", path));
  KVF_ASSIGN_OR_RETURN(std::optional<double> legacy, get_float(md, a + "rope.scale_linear", path));
  if (type && *type != "none" && *type != "linear") {
    return Status::NotSupported(path + ": RoPE scaling '" + *type + "' (" + a +
                                "rope.scaling.type) is not supported (supported: none, linear)");
  }
  if (type && *type == "none") return 1.0f;
  const std::optional<double> f = factor ? factor : legacy;
  if (!f || *f == 0.0) return 1.0f;  // llama.cpp reads a zero factor as "unset"
  if (!(*f > 0.0) || *f > 1e6) {
    return Status::Corruption(path + ": RoPE scaling factor " + std::to_string(*f) + " is not a positive factor");
  }
  return static_cast<float>(1.0 / *f);
}

}  // namespace

Status read_hyperparameters(const Metadata& md, const std::string& arch, const std::string& path, ModelConfig* c) {
  const ArchInfo* info = nullptr;
  for (const ArchInfo& a : kArchitectures) {
    if (arch == a.name) info = &a;
  }
  if (info == nullptr) {
    return Status::NotSupported(path + ": architecture '" + arch + "' is not supported (supported: llama, qwen2, qwen3)");
  }
  c->architecture = arch;
  c->rope_style = info->rope;
  const std::string a = arch + ".";
  struct Req {
    const char* key;
    int* dst;
  };
  const Req required[] = {{"embedding_length", &c->dim},
                          {"feed_forward_length", &c->hidden_dim},
                          {"block_count", &c->n_layers},
                          {"attention.head_count", &c->n_heads},
                          {"context_length", &c->context_length}};
  for (const Req& r : required) {
    KVF_ASSIGN_OR_RETURN(std::optional<int> v, get_small_int(md, a + r.key, path));
    if (!v) return Status::Corruption(path + ": metadata key '" + a + r.key + "' is missing");
    *r.dst = *v;
  }
  KVF_ASSIGN_OR_RETURN(std::optional<int> n_kv, get_small_int(md, a + "attention.head_count_kv", path));
  c->n_kv_heads = n_kv ? *n_kv : c->n_heads;
  KVF_ASSIGN_OR_RETURN(std::optional<double> eps, get_float(md, a + "attention.layer_norm_rms_epsilon", path));
  c->rms_eps = eps ? static_cast<float>(*eps) : 1e-5f;
  KVF_ASSIGN_OR_RETURN(std::optional<double> theta, get_float(md, a + "rope.freq_base", path));
  c->rope_theta = theta ? static_cast<float>(*theta) : 10000.0f;
  KVF_ASSIGN_OR_RETURN(c->rope_freq_scale, read_rope_scale(md, a, path));
  // Head size: attention.key_length when written (Qwen3 heads are wider than
  // dim / n_heads), else dim / n_heads. The rotary dimension may be smaller.
  KVF_ASSIGN_OR_RETURN(std::optional<int> key_len, get_small_int(md, a + "attention.key_length", path));
  KVF_ASSIGN_OR_RETURN(std::optional<int> val_len, get_small_int(md, a + "attention.value_length", path));
  KVF_ASSIGN_OR_RETURN(std::optional<int> rot, get_small_int(md, a + "rope.dimension_count", path));
  if (key_len && val_len && *key_len != *val_len) {
    return Status::NotSupported(path + ": key length " + std::to_string(*key_len) + " differs from value length " +
                                std::to_string(*val_len) + " (not supported)");
  }
  if (key_len) c->head_dim = *key_len;
  if (rot) c->rope_dim = *rot;
  return Status::OK();
}

}  // namespace kvforge::model::gguf

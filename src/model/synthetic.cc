#include "kvforge/model/synthetic.h"

#include <cmath>
#include <cstring>
#include <map>
#include <sstream>
#include <vector>

#include "kvforge/core/kernels.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::model {

namespace {

Result<int> parse_int(const std::string& key, const std::string& v) {
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x <= 0 || x > (1 << 24)) {
    return Status::InvalidArgument("synthetic model: " + key + "=" + v + " is not a positive integer");
  }
  return static_cast<int>(x);
}

Result<core::TensorType> parse_type(const std::string& v) {
  if (v == "f32") return core::TensorType::kF32;
  if (v == "f16") return core::TensorType::kF16;
  if (v == "bf16") return core::TensorType::kBF16;
  if (v == "q8_0") return core::TensorType::kQ8_0;
  if (v == "q4_0") return core::TensorType::kQ4_0;
  return Status::InvalidArgument("synthetic model: type=" + v + " unknown; valid: f32, f16, bf16, q8_0, q4_0");
}

// Counter-based generator: every element's value depends only on (seed, index),
// so filling in parallel gives the same weights for any thread count.
inline float uniform_at(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) / 16777216.0f * 2.0f - 1.0f;  // [-1, 1)
}

}  // namespace

Result<SyntheticSpec> parse_synthetic_spec(const std::string& text) {
  SyntheticSpec s;
  if (text.empty() || text == "1b") return s;
  if (text == "small") {
    s.dim = 1024; s.hidden_dim = 2816; s.n_layers = 8; s.n_heads = 16; s.n_kv_heads = 4; s.vocab_size = 32000;
    return s;
  }
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("synthetic model: '" + item + "' is not key=value (or a preset: 1b, small)");
    }
    const std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    static const std::map<std::string, int SyntheticSpec::*> kInts = {
        {"dim", &SyntheticSpec::dim},         {"hidden", &SyntheticSpec::hidden_dim},
        {"layers", &SyntheticSpec::n_layers}, {"heads", &SyntheticSpec::n_heads},
        {"kv_heads", &SyntheticSpec::n_kv_heads}, {"vocab", &SyntheticSpec::vocab_size},
        {"ctx", &SyntheticSpec::context_length}};
    if (k == "type") {
      KVF_ASSIGN_OR_RETURN(s.weight_type, parse_type(v));
    } else if (k == "seed") {
      KVF_ASSIGN_OR_RETURN(int seed, parse_int(k, v));
      s.seed = static_cast<uint64_t>(seed);
    } else if (auto it = kInts.find(k); it != kInts.end()) {
      KVF_ASSIGN_OR_RETURN(s.*(it->second), parse_int(k, v));
    } else {
      return Status::InvalidArgument("synthetic model: unknown key '" + k +
                                     "'; valid: dim, hidden, layers, heads, kv_heads, vocab, ctx, type, seed");
    }
  }
  return s;
}

Result<std::shared_ptr<const LlamaModel>> make_synthetic_model(const SyntheticSpec& spec, int n_threads) {
  ModelFile f;
  f.path = "synthetic";
  f.format = "synthetic (random weights)";
  ModelConfig& c = f.config;
  c.name = "synthetic";
  c.dim = spec.dim;
  c.hidden_dim = spec.hidden_dim;
  c.n_layers = spec.n_layers;
  c.n_heads = spec.n_heads;
  c.n_kv_heads = spec.n_kv_heads;
  c.head_dim = spec.n_heads > 0 ? spec.dim / spec.n_heads : 0;
  c.vocab_size = spec.vocab_size;
  c.context_length = spec.context_length;
  c.tied_output = false;
  KVF_RETURN_IF_ERROR(validate_config(c));
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim, kv_dim = int64_t{c.n_kv_heads} * c.head_dim;

  struct Plan {
    std::string name;
    int64_t cols, rows;
    core::TensorType type;
    float scale;  // uniform in [-scale, scale); 0 means all ones (norms)
  };
  std::vector<Plan> plans;
  const auto wt = spec.weight_type;
  const float in_scale = 1.0f / std::sqrt(static_cast<float>(c.dim));
  plans.push_back({"token_embd.weight", c.dim, c.vocab_size, wt, 1.0f});
  plans.push_back({"output_norm.weight", c.dim, 1, core::TensorType::kF32, 0});
  plans.push_back({"output.weight", c.dim, c.vocab_size, wt, in_scale});
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    plans.push_back({p + "attn_norm.weight", c.dim, 1, core::TensorType::kF32, 0});
    plans.push_back({p + "ffn_norm.weight", c.dim, 1, core::TensorType::kF32, 0});
    plans.push_back({p + "attn_q.weight", c.dim, q_dim, wt, in_scale});
    plans.push_back({p + "attn_k.weight", c.dim, kv_dim, wt, in_scale});
    plans.push_back({p + "attn_v.weight", c.dim, kv_dim, wt, in_scale});
    plans.push_back({p + "attn_output.weight", q_dim, c.dim, wt, 1.0f / std::sqrt(static_cast<float>(q_dim))});
    plans.push_back({p + "ffn_gate.weight", c.dim, c.hidden_dim, wt, in_scale});
    plans.push_back({p + "ffn_up.weight", c.dim, c.hidden_dim, wt, in_scale});
    plans.push_back({p + "ffn_down.weight", c.hidden_dim, c.dim, wt, 1.0f / std::sqrt(static_cast<float>(c.hidden_dim))});
  }
  std::vector<size_t> offsets;
  size_t total = 0;
  for (const Plan& p : plans) {
    KVF_ASSIGN_OR_RETURN(size_t row, core::tensor_row_bytes(p.type, p.cols));
    offsets.push_back(total);
    total += (row * static_cast<size_t>(p.rows) + 63) / 64 * 64;
  }
  std::shared_ptr<uint8_t[]> storage(new (std::nothrow) uint8_t[total]);
  if (!storage) return Status::ResourceExhausted("synthetic model needs " + std::to_string(total >> 20) + " MiB");
  core::ThreadPool pool(n_threads);
  uint64_t salt = spec.seed;
  for (size_t i = 0; i < plans.size(); ++i) {
    const Plan& p = plans[i];
    const size_t row = *core::tensor_row_bytes(p.type, p.cols);
    uint8_t* base = storage.get() + offsets[i];
    const uint64_t seed = ++salt * 1000003ull;
    pool.parallel_for(static_cast<size_t>(p.rows), [&](size_t r0, size_t r1) {
      std::vector<float> tmp(static_cast<size_t>(p.cols));
      for (size_t r = r0; r < r1; ++r) {
        for (int64_t j = 0; j < p.cols; ++j) {
          tmp[j] = p.scale == 0 ? 1.0f : p.scale * uniform_at(seed, r * static_cast<uint64_t>(p.cols) + j);
        }
        // Shapes were checked above, so the row always fills whole blocks.
        (void)core::quantize_row(p.type, tmp.data(), base + r * row, static_cast<size_t>(p.cols));
      }
    });
    TensorRef t;
    t.name = p.name;
    t.type = p.type;
    t.dims = p.rows == 1 ? std::vector<int64_t>{p.cols} : std::vector<int64_t>{p.cols, p.rows};
    t.data = base;
    t.nbytes = row * static_cast<size_t>(p.rows);
    f.tensors.push_back(std::move(t));
  }
  f.storage = std::shared_ptr<const void>(storage, storage.get());
  return LlamaModel::from_file(std::move(f), std::nullopt);
}

}  // namespace kvforge::model

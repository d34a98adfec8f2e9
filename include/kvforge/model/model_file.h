// A parsed model file: hyperparameters, named weight tensors and (when the file
// carries one) the vocabulary. Both readers (GGUF and llama2.c) produce this, with
// tensors named as GGUF's llama architecture names them:
//   token_embd.weight [vocab][dim]        output_norm.weight [dim]
//   output.weight [vocab][dim] (absent when tied to token_embd)
//   blk.N.attn_norm.weight [dim]          blk.N.ffn_norm.weight [dim]
//   blk.N.attn_q.weight [n_heads*head_dim][dim]
//   blk.N.attn_k.weight / attn_v.weight [n_kv_heads*head_dim][dim]
//   blk.N.attn_output.weight [dim][n_heads*head_dim]
//   blk.N.ffn_gate.weight / ffn_up.weight [hidden][dim]   blk.N.ffn_down.weight [dim][hidden]
// Shapes above are [rows][cols]; a TensorRef's dims are in GGML order (dims[0] = cols).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/core/tensor_type.h"

namespace kvforge::model {

struct ModelConfig {
  std::string architecture = "llama";
  std::string name;
  int dim = 0;             // embedding length
  int hidden_dim = 0;      // feed-forward length
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;        // dim / n_heads unless the file says otherwise
  int vocab_size = 0;
  int context_length = 0;  // as the file states it (may exceed what the model was trained on)
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool tied_output = false;  // classifier shares token_embd
  // RoPE as llama.cpp applies it. `rope_dim` leading values of each head are
  // rotated (0: the whole head); the rest pass through. Pairs are adjacent
  // values (llama) or i and i + rope_dim/2 (NeoX: qwen2, qwen3). Positions are
  // multiplied by rope_freq_scale (linear scaling = 1 / factor); per-pair
  // frequency factors (Llama 3's rope_freqs.weight) live in the model's tensors.
  enum class RopeStyle { kAdjacentPairs, kNeox };
  RopeStyle rope_style = RopeStyle::kAdjacentPairs;
  int rope_dim = 0;
  float rope_freq_scale = 1.0f;

  int rotary_dim() const { return rope_dim > 0 ? rope_dim : head_dim; }
};

// Checks that the configuration is usable: positive sizes, heads dividing dim,
// n_kv_heads dividing n_heads, even head_dim, and dimensions below sane limits
// (so absurd headers fail here, before anything is allocated).
Status validate_config(const ModelConfig& config);

// A view of one tensor's bytes inside ModelFile::storage.
struct TensorRef {
  std::string name;
  core::TensorType type = core::TensorType::kF32;
  std::vector<int64_t> dims;  // GGML order: dims[0] is the contiguous (column) extent
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  // The same matrix repacked for faster kernels (core/packed_q4_0.h), owned by
  // the LlamaModel that set it; null when the weights run as stored.
  const uint8_t* packed_q4_0x8 = nullptr;

  int64_t cols() const { return dims.empty() ? 0 : dims[0]; }
  int64_t rows() const;  // product of dims[1..]
  int64_t elements() const;
};

// "[2048, 5632]": how errors print a tensor's GGML-order dims.
std::string shape_string(const std::vector<int64_t>& dims);

// Vocabulary as stored with the model. Token text is kept exactly as the file
// has it (GGUF writes U+2581 for a word-start space; llama2.c a plain space;
// byte-level BPE vocabularies spell bytes as GPT-2's printable code points);
// `space_marker` says which for SentencePiece vocabularies.
struct Vocab {
  enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };
  std::string model = "llama";  // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string pre;              // tokenizer.ggml.pre: the BPE pre-tokenizer's name ("" when absent)
  std::string name;             // general.name: llama.cpp keys a few per-model quirks on it (Phi-3's specials)
  std::string chat_template;    // tokenizer.chat_template, Jinja text ("" when absent): see chat_template.h
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;        // TokenType per token; kNormal when the file has none
  std::vector<std::string> merges;   // BPE merges "left right", best (rank 0) first
  // Special ids; -1 means none. SentencePiece files default to 1/2/0 as llama.cpp does.
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;
  int32_t eot_id = -1;  // end of turn (<|eot_id|>, <|im_end|>); found by text when the file names none
  int32_t eom_id = -1;  // end of message (<|eom_id|>)
  int32_t pad_id = -1;
  bool add_bos = true;   // encode(text, add_special = true) starts with bos_id
  bool add_eos = false;  // ... and ends with eos_id
  bool add_space_prefix = true;
  std::string space_marker = "\xE2\x96\x81";  // "▁"
  size_t max_token_bytes = 0;
};

// A GGUF metadata value as read (arrays are summarised, not kept, except the
// vocabulary arrays which land in Vocab).
using MetaValue = std::variant<int64_t, uint64_t, double, bool, std::string>;

struct ModelFile {
  std::string path;
  std::string format;  // "gguf v3", "llama2.c legacy", "llama2.c v1"
  ModelConfig config;
  std::vector<TensorRef> tensors;
  std::optional<Vocab> vocab;
  std::map<std::string, MetaValue> metadata;  // scalar GGUF keys, for `kvforge info`
  std::shared_ptr<const void> storage;        // keeps the bytes tensors point into alive

  const TensorRef* find(const std::string& name) const;
};

// Opens a GGUF (by magic) or llama2.c checkpoint and returns the parsed file.
// Errors name the file and the problem: truncated, bad magic/version, absurd
// dimensions, unknown tensor type, tensor out of bounds, missing tensor, ...
Result<ModelFile> read_model_file(const std::string& path);

}  // namespace kvforge::model

// A model with random weights built in memory, for measuring speed at shapes
// the tiny real model cannot show (a 1B-class layer shape, fewer layers).
// Never used for quality figures.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kvforge/core/tensor_type.h"
#include "kvforge/model/llama.h"

namespace kvforge::model {

struct SyntheticSpec {
  int dim = 2048;
  int hidden_dim = 5632;
  int n_layers = 8;
  int n_heads = 32;
  int n_kv_heads = 4;
  int vocab_size = 32000;
  int context_length = 32768;
  core::TensorType weight_type = core::TensorType::kF16;
  uint64_t seed = 1;
};

// Parses "dim=2048,hidden=5632,layers=8,heads=32,kv_heads=4,vocab=32000,ctx=32768,type=f16"
// (any subset; unknown keys are InvalidArgument listing the valid ones), or a
// preset name: "1b" (the default above), "small" (dim 1024, 8 layers, 16/4 heads).
Result<SyntheticSpec> parse_synthetic_spec(const std::string& text);

Result<std::shared_ptr<const LlamaModel>> make_synthetic_model(const SyntheticSpec& spec, int n_threads = 1);

}  // namespace kvforge::model

// GGUF v3 writer: metadata key/values and tensors, data aligned to 32 bytes,
// written atomically. Used to save synthetic models (speed and conformance
// files a user can hand to llama.cpp too) and by tests that need a model of a
// given architecture.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/core/tensor_type.h"
#include "kvforge/model/model_file.h"

namespace kvforge::model {

class LlamaModel;

class GgufWriter {
 public:
  void add_string(const std::string& key, const std::string& value);
  void add_u32(const std::string& key, uint32_t value);
  void add_i32(const std::string& key, int32_t value);
  void add_f32(const std::string& key, float value);
  void add_bool(const std::string& key, bool value);
  void add_strings(const std::string& key, std::span<const std::string> values);
  void add_f32s(const std::string& key, std::span<const float> values);
  void add_i32s(const std::string& key, std::span<const int32_t> values);

  // `dims` in GGML order (dims[0] contiguous); `data` holds the encoded rows.
  // InvalidArgument when the byte count does not match type and shape.
  Status add_tensor(const std::string& name, core::TensorType type, std::vector<int64_t> dims,
                    std::span<const uint8_t> data);
  Status add_f32_tensor(const std::string& name, std::vector<int64_t> dims, std::span<const float> values);

  // A vocabulary as tokenizer.ggml.* metadata, laid out as llama.cpp's converter writes it.
  void add_vocab(const Vocab& vocab);
  // The model's configuration as <arch>.* metadata and every tensor.
  Status add_model(const LlamaModel& model);

  std::vector<uint8_t> serialize() const;
  Status write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    core::TensorType type;
    std::vector<int64_t> dims;
    std::vector<uint8_t> data;
  };
  std::vector<uint8_t> kv_bytes_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace kvforge::model

#include "kvforge/model/gguf_writer.h"

#include <cstring>
#include <utility>
#include <string_view>

#include "kvforge/core/file_io.h"
#include "kvforge/model/llama.h"

namespace kvforge::model {

namespace {

constexpr uint64_t kAlignment = 32;
enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9 };

// resize + memcpy rather than insert: GCC 12 misreads insert of a short range
// as an overflow (-Wstringop-overflow) under -O3.
void put_bytes(std::vector<uint8_t>* out, const void* p, size_t n) {
  if (n == 0) return;
  const size_t at = out->size();
  out->resize(at + n);
  std::memcpy(out->data() + at, p, n);
}

template <typename T>
void put(std::vector<uint8_t>* out, T v) {
  put_bytes(out, &v, sizeof(T));  // host is little-endian, as GGUF
}

void put_string(std::vector<uint8_t>* out, std::string_view s) {
  put<uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

void pad_to(std::vector<uint8_t>* out, uint64_t alignment) {
  while (out->size() % alignment != 0) out->push_back(0);
}

}  // namespace

void GgufWriter::add_string(const std::string& key, const std::string& value) {
  put_string(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, kString);
  put_string(&kv_bytes_, value);
  ++n_kv_;
}

void GgufWriter::add_u32(const std::string& key, uint32_t value) {
  put_string(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, kU32);
  put(&kv_bytes_, value);
  ++n_kv_;
}

void GgufWriter::add_i32(const std::string& key, int32_t value) {
  put_string(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, kI32);
  put(&kv_bytes_, value);
  ++n_kv_;
}

void GgufWriter::add_f32(const std::string& key, float value) {
  put_string(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, kF32);
  put(&kv_bytes_, value);
  ++n_kv_;
}

void GgufWriter::add_bool(const std::string& key, bool value) {
  put_string(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, kBool);
  put<uint8_t>(&kv_bytes_, value ? 1 : 0);
  ++n_kv_;
}

void GgufWriter::add_strings(const std::string& key, std::span<const std::string> values) {
  put_string(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, kArray);
  put<uint32_t>(&kv_bytes_, kString);
  put<uint64_t>(&kv_bytes_, values.size());
  for (const std::string& v : values) put_string(&kv_bytes_, v);
  ++n_kv_;
}

void GgufWriter::add_f32s(const std::string& key, std::span<const float> values) {
  put_string(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, kArray);
  put<uint32_t>(&kv_bytes_, kF32);
  put<uint64_t>(&kv_bytes_, values.size());
  for (float v : values) put(&kv_bytes_, v);
  ++n_kv_;
}

void GgufWriter::add_i32s(const std::string& key, std::span<const int32_t> values) {
  put_string(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, kArray);
  put<uint32_t>(&kv_bytes_, kI32);
  put<uint64_t>(&kv_bytes_, values.size());
  for (int32_t v : values) put(&kv_bytes_, v);
  ++n_kv_;
}

Status GgufWriter::add_tensor(const std::string& name, core::TensorType type, std::vector<int64_t> dims,
                              std::span<const uint8_t> data) {
  if (dims.empty() || dims.size() > 4) return Status::InvalidArgument("tensor " + name + ": 1 to 4 dimensions");
  KVF_ASSIGN_OR_RETURN(size_t row, core::tensor_row_bytes(type, dims[0]));
  size_t rows = 1;
  for (size_t i = 1; i < dims.size(); ++i) rows *= static_cast<size_t>(dims[i]);
  if (row * rows != data.size()) {
    return Status::InvalidArgument("tensor " + name + ": " + std::to_string(data.size()) + " bytes, its shape and " +
                                   std::string(core::tensor_type_name(type)) + " need " + std::to_string(row * rows));
  }
  tensors_.push_back({name, type, std::move(dims), std::vector<uint8_t>(data.begin(), data.end())});
  return Status::OK();
}

Status GgufWriter::add_f32_tensor(const std::string& name, std::vector<int64_t> dims, std::span<const float> values) {
  const auto* p = reinterpret_cast<const uint8_t*>(values.data());
  return add_tensor(name, core::TensorType::kF32, std::move(dims), {p, values.size() * sizeof(float)});
}

void GgufWriter::add_vocab(const Vocab& v) {
  add_string("tokenizer.ggml.model", v.model);
  if (!v.pre.empty()) add_string("tokenizer.ggml.pre", v.pre);
  if (!v.chat_template.empty()) add_string("tokenizer.chat_template", v.chat_template);
  add_strings("tokenizer.ggml.tokens", v.tokens);
  add_i32s("tokenizer.ggml.token_type", v.types);
  if (!v.merges.empty()) add_strings("tokenizer.ggml.merges", v.merges);
  if (v.model == "llama") add_f32s("tokenizer.ggml.scores", v.scores);
  const std::pair<const char*, int32_t> ids[] = {{"tokenizer.ggml.bos_token_id", v.bos_id},
                                                 {"tokenizer.ggml.eos_token_id", v.eos_id},
                                                 {"tokenizer.ggml.unknown_token_id", v.unk_id},
                                                 {"tokenizer.ggml.eot_token_id", v.eot_id},
                                                 {"tokenizer.ggml.padding_token_id", v.pad_id}};
  for (const auto& [key, id] : ids) {
    if (id >= 0) add_u32(key, static_cast<uint32_t>(id));
  }
  add_bool("tokenizer.ggml.add_bos_token", v.add_bos);
}

Status GgufWriter::add_model(const LlamaModel& model) {
  const ModelConfig& c = model.config();
  const std::string a = c.architecture + ".";
  add_string("general.architecture", c.architecture);
  add_string("general.name", c.name.empty() ? std::string("kvforge") : c.name);
  const std::pair<const char*, int> ints[] = {{"context_length", c.context_length},
                                              {"embedding_length", c.dim},
                                              {"feed_forward_length", c.hidden_dim},
                                              {"block_count", c.n_layers},
                                              {"attention.head_count", c.n_heads},
                                              {"attention.head_count_kv", c.n_kv_heads},
                                              {"attention.key_length", c.head_dim},
                                              {"attention.value_length", c.head_dim},
                                              {"rope.dimension_count", c.rotary_dim()},
                                              {"vocab_size", c.vocab_size}};
  for (const auto& [key, value] : ints) add_u32(a + key, static_cast<uint32_t>(value));
  add_f32(a + "rope.freq_base", c.rope_theta);
  add_f32(a + "attention.layer_norm_rms_epsilon", c.rms_eps);
  if (c.rope_freq_scale != 1.0f) {
    add_string(a + "rope.scaling.type", "linear");
    add_f32(a + "rope.scaling.factor", 1.0f / c.rope_freq_scale);
  }
  for (const TensorRef& t : model.file().tensors) {
    KVF_RETURN_IF_ERROR(add_tensor(t.name, t.type, t.dims, {t.data, t.nbytes}));
  }
  return Status::OK();
}

std::vector<uint8_t> GgufWriter::serialize() const {
  std::vector<uint8_t> out;
  put_bytes(&out, "GGUF", 4);
  put<uint32_t>(&out, 3);
  put<uint64_t>(&out, tensors_.size());
  put<uint64_t>(&out, n_kv_);
  put_bytes(&out, kv_bytes_.data(), kv_bytes_.size());
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(&out, t.name);
    put<uint32_t>(&out, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) put<uint64_t>(&out, static_cast<uint64_t>(d));
    put<uint32_t>(&out, static_cast<uint32_t>(t.type));
    put<uint64_t>(&out, offset);
    offset += (t.data.size() + kAlignment - 1) / kAlignment * kAlignment;
  }
  pad_to(&out, kAlignment);
  for (const Tensor& t : tensors_) {
    put_bytes(&out, t.data.data(), t.data.size());
    pad_to(&out, kAlignment);
  }
  return out;
}

Status GgufWriter::write(const std::string& path) const {
  const std::vector<uint8_t> bytes = serialize();
  return core::write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace kvforge::model

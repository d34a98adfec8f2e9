#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "kvforge/model/llama2c_reader.h"

#include "model/mapped_file.h"

namespace kvforge::model {

namespace {

constexpr uint32_t kV1Magic = 0x616b3432;  // "ak42" read little-endian
constexpr size_t kLegacyHeaderBytes = 7 * 4;
constexpr size_t kV1HeaderBytes = 256;

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// One weight tensor in file order: GGUF name and GGML dims {cols, rows}.
struct Slot {
  std::string name;
  std::vector<int64_t> dims;
};

uint64_t slot_elems(const Slot& s) {
  uint64_t n = 1;
  for (int64_t d : s.dims) n *= static_cast<uint64_t>(d);  // bounded by validate_config limits
  return n;
}

std::string layer_name(int l, const char* what) { return "blk." + std::to_string(l) + "." + what + ".weight"; }

// Per-layer tensors of one kind, for layers 0..L-1.
void add_layers(std::vector<Slot>* out, int n_layers, const char* what, std::vector<int64_t> dims) {
  for (int l = 0; l < n_layers; ++l) out->push_back({layer_name(l, what), dims});
}

}  // namespace

Result<ModelFile> parse_llama2c(const uint8_t* data, size_t size, std::shared_ptr<const void> storage,
                                const std::string& path) {
  if (data == nullptr || size == 0) return Status::Corruption(path + ": file is empty (0 bytes)");
  if (size < 4) {
    return Status::Corruption(path + ": truncated llama2.c checkpoint: " + std::to_string(size) +
                              " bytes, shorter than any header");
  }
  uint32_t magic;
  std::memcpy(&magic, data, sizeof magic);
  const bool v1 = magic == kV1Magic;
  const size_t header_bytes = v1 ? kV1HeaderBytes : kLegacyHeaderBytes;
  const char* fmt = v1 ? "llama2.c v1" : "llama2.c legacy";
  if (size < header_bytes) {
    return Status::Corruption(path + ": truncated " + std::string(fmt) + " checkpoint: header needs " +
                              std::to_string(header_bytes) + " bytes, file has " + std::to_string(size));
  }
  const uint8_t* hp = data;
  bool shared = true;
  if (v1) {
    const int32_t version = read_i32(data + 4);
    if (version == 2) {
      return Status::NotSupported(path + ": llama2.c checkpoint version 2 (int8 Q8_0-quantized export) is not "
                                  "supported; export version 1 (fp32) or GGUF");
    }
    if (version != 1) {
      return Status::NotSupported(path + ": unknown llama2.c checkpoint version " + std::to_string(version) +
                                  " (supported: legacy, 1)");
    }
    hp = data + 8;
    const uint8_t shared_byte = data[8 + 7 * 4];
    if (shared_byte > 1) {
      return Status::Corruption(path + ": llama2.c v1 shared-classifier flag is " + std::to_string(shared_byte) +
                                " (must be 0 or 1)");
    }
    shared = shared_byte == 1;
  }
  const int32_t dim = read_i32(hp + 0), hidden = read_i32(hp + 4), n_layers = read_i32(hp + 8),
                n_heads = read_i32(hp + 12), n_kv_heads = read_i32(hp + 16), raw_vocab = read_i32(hp + 20),
                seq_len = read_i32(hp + 24);
  if (v1 && raw_vocab < 0) {
    return Status::Corruption(path + ": llama2.c v1 header has negative vocab_size " + std::to_string(raw_vocab));
  }
  if (!v1) {
    // The legacy format signals a separate classifier by a negative vocab size.
    shared = raw_vocab > 0;
  }
  const int64_t vocab64 = raw_vocab < 0 ? -int64_t{raw_vocab} : int64_t{raw_vocab};

  ModelFile mf;
  mf.path = path;
  mf.format = fmt;
  ModelConfig& c = mf.config;
  c.architecture = "llama";
  c.dim = dim;
  c.hidden_dim = hidden;
  c.n_layers = n_layers;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.vocab_size = vocab64 > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                                          : static_cast<int>(vocab64);
  c.context_length = seq_len;
  c.tied_output = shared;
  if (Status s = validate_config(c); !s.ok()) {
    return Status(StatusCode::kCorruption, path + ": " + std::string(fmt) + " header: " + s.message());
  }
  c.head_dim = dim / n_heads;

  const int64_t D = dim, H = hidden, V = vocab64, hd = c.head_dim;
  const int64_t q_dim = int64_t{n_heads} * hd, kv_dim = int64_t{n_kv_heads} * hd;
  const int L = n_layers;
  // llama2.c's w1/w2/w3 are GGUF's ffn_gate/ffn_down/ffn_up.
  std::vector<Slot> slots;
  uint64_t rope_floats = 0;
  try {
    slots.reserve(static_cast<size_t>(L) * 9 + 4);
    if (!v1) {
      slots.push_back({"token_embd.weight", {D, V}});
      add_layers(&slots, L, "attn_norm", {D});
      add_layers(&slots, L, "attn_q", {D, q_dim});
      add_layers(&slots, L, "attn_k", {D, kv_dim});
      add_layers(&slots, L, "attn_v", {D, kv_dim});
      add_layers(&slots, L, "attn_output", {q_dim, D});
      add_layers(&slots, L, "ffn_norm", {D});
      add_layers(&slots, L, "ffn_gate", {D, H});
      add_layers(&slots, L, "ffn_down", {H, D});
      add_layers(&slots, L, "ffn_up", {D, H});
      slots.push_back({"output_norm.weight", {D}});
      // freq_cis_real and freq_cis_imag: unused (RoPE is computed), but present.
      rope_floats = 2 * static_cast<uint64_t>(seq_len) * static_cast<uint64_t>(hd / 2);
    } else {
      add_layers(&slots, L, "attn_norm", {D});
      add_layers(&slots, L, "ffn_norm", {D});
      slots.push_back({"output_norm.weight", {D}});
      slots.push_back({"token_embd.weight", {D, V}});
      add_layers(&slots, L, "attn_q", {D, q_dim});
      add_layers(&slots, L, "attn_k", {D, kv_dim});
      add_layers(&slots, L, "attn_v", {D, kv_dim});
      add_layers(&slots, L, "attn_output", {q_dim, D});
      add_layers(&slots, L, "ffn_gate", {D, H});
      add_layers(&slots, L, "ffn_down", {H, D});
      add_layers(&slots, L, "ffn_up", {D, H});
    }
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(path + ": out of memory listing tensors");
  }

  // Expected size; the config limits keep every product far below 2^63.
  uint64_t floats = 0;
  for (const Slot& s : slots) floats += slot_elems(s);
  floats += rope_floats;
  if (!shared) floats += static_cast<uint64_t>(V) * static_cast<uint64_t>(D);
  const uint64_t expected = header_bytes + floats * 4;
  if (size != expected) {
    return Status::Corruption(path + ": " + std::string(fmt) + " checkpoint size mismatch: header (dim " +
                              std::to_string(dim) + ", hidden " + std::to_string(hidden) + ", layers " +
                              std::to_string(n_layers) + ", heads " + std::to_string(n_heads) + "/" +
                              std::to_string(n_kv_heads) + ", vocab " + std::to_string(raw_vocab) + ", seq_len " +
                              std::to_string(seq_len) + ") implies " + std::to_string(expected) +
                              " bytes, file has " + std::to_string(size) +
                              (size < expected ? " (truncated)" : " (trailing bytes)"));
  }

  size_t off = header_bytes;
  try {
    mf.tensors.reserve(slots.size() + 1);
    for (Slot& s : slots) {
      TensorRef t;
      t.name = std::move(s.name);
      t.type = core::TensorType::kF32;
      t.nbytes = static_cast<size_t>(slot_elems(s) * 4);
      t.dims = std::move(s.dims);
      t.data = data + off;
      off += t.nbytes;
      mf.tensors.push_back(std::move(t));
    }
    off += static_cast<size_t>(rope_floats * 4);
    if (!shared) {
      TensorRef t;
      t.name = "output.weight";
      t.dims = {D, V};
      t.nbytes = static_cast<size_t>(V * D * 4);
      t.data = data + off;
      off += t.nbytes;
      mf.tensors.push_back(std::move(t));
    }
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(path + ": out of memory listing tensors");
  }
  KVF_CHECK(off == size);
  mf.storage = std::move(storage);
  return mf;
}

Result<ModelFile> read_llama2c(const std::string& path) {
  std::shared_ptr<const void> storage;
  const uint8_t* data = nullptr;
  size_t size = 0;
  KVF_RETURN_IF_ERROR(detail::map_file_readonly(path, &storage, &data, &size));
  return parse_llama2c(data, size, std::move(storage), path);
}

}  // namespace kvforge::model

#include <cstring>
#include <iterator>
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

// The header fields, whichever of the two layouts held them.
struct Header {
  bool v1 = false;
  size_t bytes = 0;  // header size; the weights follow
  const char* format = "";
  bool shared = true;  // classifier tied to the embedding
  int32_t dim = 0, hidden = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, raw_vocab = 0, seq_len = 0;
  int64_t vocab = 0;  // |raw_vocab|
};

Result<Header> read_header(const uint8_t* data, size_t size, const std::string& path) {
  if (size < 4) {
    return Status::Corruption(path + ": truncated llama2.c checkpoint: " + std::to_string(size) +
                              " bytes, shorter than any header");
  }
  uint32_t magic;
  std::memcpy(&magic, data, sizeof magic);
  Header h;
  h.v1 = magic == kV1Magic;
  h.bytes = h.v1 ? kV1HeaderBytes : kLegacyHeaderBytes;
  h.format = h.v1 ? "llama2.c v1" : "llama2.c legacy";
  if (size < h.bytes) {
    return Status::Corruption(path + ": truncated " + std::string(h.format) + " checkpoint: header needs " +
                              std::to_string(h.bytes) + " bytes, file has " + std::to_string(size));
  }
  const uint8_t* hp = data;
  if (h.v1) {
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
    h.shared = shared_byte == 1;
  }
  int32_t* const fields[] = {&h.dim, &h.hidden, &h.n_layers, &h.n_heads, &h.n_kv_heads, &h.raw_vocab, &h.seq_len};
  for (size_t i = 0; i < std::size(fields); ++i) *fields[i] = read_i32(hp + 4 * i);
  if (h.v1 && h.raw_vocab < 0) {
    return Status::Corruption(path + ": llama2.c v1 header has negative vocab_size " + std::to_string(h.raw_vocab));
  }
  if (!h.v1) {
    // The legacy format signals a separate classifier by a negative vocab size.
    h.shared = h.raw_vocab > 0;
  }
  h.vocab = h.raw_vocab < 0 ? -int64_t{h.raw_vocab} : int64_t{h.raw_vocab};
  return h;
}

Status read_config(const Header& h, const std::string& path, ModelConfig* c) {
  c->architecture = "llama";
  c->dim = h.dim;
  c->hidden_dim = h.hidden;
  c->n_layers = h.n_layers;
  c->n_heads = h.n_heads;
  c->n_kv_heads = h.n_kv_heads;
  c->vocab_size = h.vocab > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                                            : static_cast<int>(h.vocab);
  c->context_length = h.seq_len;
  c->tied_output = h.shared;
  if (Status s = validate_config(*c); !s.ok()) {
    return Status(StatusCode::kCorruption, path + ": " + std::string(h.format) + " header: " + s.message());
  }
  c->head_dim = h.dim / h.n_heads;
  return Status::OK();
}

// The weight tensors in file order, the classifier apart; *rope_floats: the
// legacy format's precomputed RoPE table that follows them. Throws bad_alloc.
std::vector<Slot> list_slots(const Header& h, const ModelConfig& c, uint64_t* rope_floats) {
  const int64_t D = h.dim, H = h.hidden, V = h.vocab, hd = c.head_dim;
  const int64_t q_dim = int64_t{h.n_heads} * hd, kv_dim = int64_t{h.n_kv_heads} * hd;
  const int L = h.n_layers;
  // llama2.c's w1/w2/w3 are GGUF's ffn_gate/ffn_down/ffn_up.
  std::vector<Slot> slots;
  *rope_floats = 0;
  slots.reserve(static_cast<size_t>(L) * 9 + 4);
  if (!h.v1) {
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
    *rope_floats = 2 * static_cast<uint64_t>(h.seq_len) * static_cast<uint64_t>(hd / 2);
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
  return slots;
}

// The file must hold exactly the header's tensors; the config limits keep
// every product far below 2^63.
Status check_size(const Header& h, const std::vector<Slot>& slots, uint64_t rope_floats, size_t size,
                  const std::string& path) {
  uint64_t floats = 0;
  for (const Slot& s : slots) floats += slot_elems(s);
  floats += rope_floats;
  if (!h.shared) floats += static_cast<uint64_t>(h.vocab) * static_cast<uint64_t>(h.dim);
  const uint64_t expected = h.bytes + floats * 4;
  if (size == expected) return Status::OK();
  return Status::Corruption(path + ": " + std::string(h.format) + " checkpoint size mismatch: header (dim " +
                            std::to_string(h.dim) + ", hidden " + std::to_string(h.hidden) + ", layers " +
                            std::to_string(h.n_layers) + ", heads " + std::to_string(h.n_heads) + "/" +
                            std::to_string(h.n_kv_heads) + ", vocab " + std::to_string(h.raw_vocab) + ", seq_len " +
                            std::to_string(h.seq_len) + ") implies " + std::to_string(expected) + " bytes, file has " +
                            std::to_string(size) + (size < expected ? " (truncated)" : " (trailing bytes)"));
}

// F32 views of each tensor in file order, skipping the RoPE table. Throws
// bad_alloc; returns the offset past the last tensor.
size_t bind_tensors(const Header& h, std::vector<Slot>* slots, uint64_t rope_floats, const uint8_t* data,
                    ModelFile* mf) {
  const int64_t D = h.dim, V = h.vocab;
  size_t off = h.bytes;
  mf->tensors.reserve(slots->size() + 1);
  for (Slot& s : *slots) {
    TensorRef t;
    t.name = std::move(s.name);
    t.type = core::TensorType::kF32;
    t.nbytes = static_cast<size_t>(slot_elems(s) * 4);
    t.dims = std::move(s.dims);
    t.data = data + off;
    off += t.nbytes;
    mf->tensors.push_back(std::move(t));
  }
  off += static_cast<size_t>(rope_floats * 4);
  if (!h.shared) {
    TensorRef t;
    t.name = "output.weight";
    t.dims = {D, V};
    t.nbytes = static_cast<size_t>(V * D * 4);
    t.data = data + off;
    off += t.nbytes;
    mf->tensors.push_back(std::move(t));
  }
  return off;
}

}  // namespace

Result<ModelFile> parse_llama2c(const uint8_t* data, size_t size, std::shared_ptr<const void> storage,
                                const std::string& path) {
  if (data == nullptr || size == 0) return Status::Corruption(path + ": file is empty (0 bytes)");
  KVF_ASSIGN_OR_RETURN(Header h, read_header(data, size, path));
  ModelFile mf;
  mf.path = path;
  mf.format = h.format;
  KVF_RETURN_IF_ERROR(read_config(h, path, &mf.config));
  std::vector<Slot> slots;
  uint64_t rope_floats = 0;
  try {
    slots = list_slots(h, mf.config, &rope_floats);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(path + ": out of memory listing tensors");
  }
  KVF_RETURN_IF_ERROR(check_size(h, slots, rope_floats, size, path));
  size_t end = 0;
  try {
    end = bind_tensors(h, &slots, rope_floats, data, &mf);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(path + ": out of memory listing tensors");
  }
  KVF_CHECK(end == size);
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

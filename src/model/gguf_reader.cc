#include "kvforge/model/gguf_reader.h"

#include <algorithm>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kvforge/core/spec.h"
#include "model/gguf_hyperparameters.h"
#include "model/gguf_metadata.h"
#include "model/gguf_parser.h"
#include "model/gguf_vocab.h"
#include "model/mapped_file.h"

namespace kvforge::model {

namespace {

using gguf::GgufParser;
using gguf::Metadata;
using gguf::TensorInfo;

// general.alignment: the spec says uint32; accept any integer type a writer may have used.
Result<uint64_t> read_alignment(const Metadata& md, const GgufParser& p) {
  auto al_it = md.scalars.find("general.alignment");
  if (al_it == md.scalars.end()) return uint64_t{32};
  std::optional<uint64_t> u;
  if (const auto* x = std::get_if<uint64_t>(&al_it->second)) u = *x;
  if (const auto* x = std::get_if<int64_t>(&al_it->second); x && *x > 0) u = static_cast<uint64_t>(*x);
  if (!u || *u == 0 || (*u & (*u - 1)) != 0 || *u > (uint64_t{1} << 30)) {
    return p.corrupt("general.alignment must be a power of two up to 2^30, got " +
                     (u ? std::to_string(*u) : std::string("a non-positive or non-integer value")));
  }
  return *u;
}

std::string data_range(const TensorInfo& ti) {
  return "data bytes [" + std::to_string(ti.offset) + ", " + std::to_string(ti.offset + ti.nbytes) + ")";
}

// Two tensors sharing bytes would alias each other's weights: a writer never
// does that, so it is a corrupt offset table. Needs every tensor already
// inside the data section (so offset + nbytes cannot overflow).
Status check_no_overlap(const std::vector<TensorInfo>& infos, const GgufParser& p) {
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(infos.size());
  for (const TensorInfo& ti : infos) by_offset.push_back(&ti);
  std::stable_sort(by_offset.begin(), by_offset.end(),
                   [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  // Sorted by start (ties in file order, so the message is stable), any overlap shows
  // up between neighbours: every tensor holds at least one byte.
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& a = *by_offset[i - 1];
    const TensorInfo& b = *by_offset[i];
    if (b.offset < a.offset + a.nbytes) {
      return p.corrupt("tensors " + core::quote(a.name) + " (" + data_range(a) + ") and " + core::quote(b.name) +
                       " (" + data_range(b) + ") overlap");
    }
  }
  return Status::OK();
}

// Points each tensor into the data section, which follows the tensor infos
// (ending at `info_end`) at the next multiple of `alignment`.
Status bind_tensors(const std::vector<TensorInfo>& infos, const uint8_t* data, size_t size, uint64_t info_end,
                    uint64_t alignment, const GgufParser& p, ModelFile* mf) {
  const uint64_t data_start = (info_end + alignment - 1) / alignment * alignment;
  if (!infos.empty() && data_start > size) {
    return p.corrupt("truncated GGUF: data section would start at offset " + std::to_string(data_start) +
                     " past the end of the file (" + std::to_string(size) + " bytes)");
  }
  const uint64_t data_size = data_start <= size ? size - data_start : 0;
  for (const TensorInfo& ti : infos) {
    if (ti.offset % alignment != 0) {
      return p.corrupt("tensor '" + ti.name + "' data offset " + std::to_string(ti.offset) +
                       " is not a multiple of the alignment " + std::to_string(alignment));
    }
    if (ti.offset > data_size || ti.nbytes > data_size - ti.offset) {
      return p.corrupt("tensor '" + ti.name + "' (" + std::to_string(ti.nbytes) + " bytes at data offset " +
                       std::to_string(ti.offset) + ") extends past the end of the file: data section holds " +
                       std::to_string(data_size) + " bytes");
    }
    TensorRef t;
    t.name = ti.name;
    t.type = ti.type;
    t.dims = ti.dims;
    t.data = data + data_start + ti.offset;
    t.nbytes = ti.nbytes;
    mf->tensors.push_back(std::move(t));
  }
  return check_no_overlap(infos, p);
}

// The vocabulary size: `<arch>.vocab_size` when written, else the token array's
// length, else the embedding's row count; nullopt when none says.
Result<std::optional<int>> read_vocab_size(const Metadata& md, const std::string& arch, const ModelFile& mf, const std::string& path) {
  KVF_ASSIGN_OR_RETURN(std::optional<int> vocab_key, gguf::get_small_int(md, arch + ".vocab_size", path));
  if (vocab_key) return vocab_key;
  auto tok_arr = md.arrays.find("tokenizer.ggml.tokens");
  if (tok_arr != md.arrays.end()) {
    return std::optional<int>{tok_arr->second.count > static_cast<uint64_t>(std::numeric_limits<int>::max())
                                  ? std::numeric_limits<int>::max()
                                  : static_cast<int>(tok_arr->second.count)};
  }
  const TensorRef* embd = mf.find("token_embd.weight");
  if (embd != nullptr && embd->dims.size() == 2) {
    return std::optional<int>{embd->dims[1] > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                                                             : static_cast<int>(embd->dims[1])};
  }
  return std::optional<int>{};
}

Status read_config(const Metadata& md, const GgufParser& p, const std::string& path, ModelFile* mf) {
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> arch, gguf::get_string(md, "general.architecture", path));
  if (!arch) return p.corrupt("metadata key 'general.architecture' is missing");
  ModelConfig& c = mf->config;
  KVF_RETURN_IF_ERROR(gguf::read_hyperparameters(md, *arch, path, &c));
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> name, gguf::get_string(md, "general.name", path));
  if (name) c.name = *name;
  KVF_ASSIGN_OR_RETURN(std::optional<int> vocab_size, read_vocab_size(md, *arch, *mf, path));
  if (vocab_size) c.vocab_size = *vocab_size;
  if (Status s = validate_config(c); !s.ok()) return Status(s.code(), path + ": " + s.message());
  if (c.head_dim == 0) c.head_dim = c.dim / c.n_heads;
  if (c.rope_dim == c.head_dim) c.rope_dim = 0;
  c.tied_output = mf->find("output.weight") == nullptr;
  return Status::OK();
}

Status check_required_tensors(const ModelFile& mf, const GgufParser& p) {
  const ModelConfig& c = mf.config;
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  auto expect = [&](const std::string& tname, std::vector<int64_t> dims) -> Status {
    const TensorRef* t = mf.find(tname);
    if (t == nullptr) return p.corrupt("required tensor '" + tname + "' is missing");
    if (t->dims != dims) {
      return p.corrupt("tensor '" + tname + "' has shape " + shape_string(t->dims) + ", expected " + shape_string(dims) +
                       " (GGML order)");
    }
    return Status::OK();
  };
  KVF_RETURN_IF_ERROR(expect("token_embd.weight", {c.dim, c.vocab_size}));
  KVF_RETURN_IF_ERROR(expect("output_norm.weight", {c.dim}));
  if (!c.tied_output) KVF_RETURN_IF_ERROR(expect("output.weight", {c.dim, c.vocab_size}));
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    KVF_RETURN_IF_ERROR(expect(b + "attn_norm.weight", {c.dim}));
    KVF_RETURN_IF_ERROR(expect(b + "attn_q.weight", {c.dim, q_dim}));
    KVF_RETURN_IF_ERROR(expect(b + "attn_k.weight", {c.dim, kv_dim}));
    KVF_RETURN_IF_ERROR(expect(b + "attn_v.weight", {c.dim, kv_dim}));
    KVF_RETURN_IF_ERROR(expect(b + "attn_output.weight", {q_dim, c.dim}));
    KVF_RETURN_IF_ERROR(expect(b + "ffn_norm.weight", {c.dim}));
    KVF_RETURN_IF_ERROR(expect(b + "ffn_gate.weight", {c.dim, c.hidden_dim}));
    KVF_RETURN_IF_ERROR(expect(b + "ffn_up.weight", {c.dim, c.hidden_dim}));
    KVF_RETURN_IF_ERROR(expect(b + "ffn_down.weight", {c.hidden_dim, c.dim}));
  }
  return Status::OK();
}

}  // namespace

Result<ModelFile> parse_gguf(const uint8_t* data, size_t size, std::shared_ptr<const void> storage,
                             const std::string& path) {
  if (data == nullptr || size == 0) return Status::Corruption(path + ": file is empty (0 bytes)");
  GgufParser p(data, size, path);
  gguf::Header h;
  Metadata md;
  KVF_RETURN_IF_ERROR(gguf::parse_front(p, &h, &md));
  std::vector<TensorInfo> infos;
  try {
    KVF_RETURN_IF_ERROR(p.parse_tensor_infos(h, &infos));
  } catch (const std::bad_alloc&) {
    return p.corrupt("out of memory while reading tensor infos");
  }
  KVF_ASSIGN_OR_RETURN(uint64_t alignment, read_alignment(md, p));
  ModelFile mf;
  mf.path = path;
  mf.format = "gguf v" + std::to_string(h.version);
  KVF_RETURN_IF_ERROR(bind_tensors(infos, data, size, p.cursor().pos(), alignment, p, &mf));
  KVF_RETURN_IF_ERROR(read_config(md, p, path, &mf));
  // A vocabulary-only file (as llama.cpp's tokenizer tests ship) is a tokenizer, not a model.
  if (mf.tensors.empty()) {
    return Status::InvalidArgument(path + ": holds a vocabulary only (no tensors): it can serve as a tokenizer, not "
                                          "as a model");
  }
  KVF_RETURN_IF_ERROR(check_required_tensors(mf, p));

  // The vocabulary is optional in a model file.
  if (md.arrays.count("tokenizer.ggml.tokens") != 0) {
    KVF_ASSIGN_OR_RETURN(Vocab v, gguf::decode_vocab(data, size, md, path));
    const ModelConfig& c = mf.config;
    if (static_cast<int64_t>(v.tokens.size()) != c.vocab_size) {
      return p.corrupt("vocabulary has " + std::to_string(v.tokens.size()) + " tokens but the model's vocab_size is " +
                       std::to_string(c.vocab_size));
    }
    mf.vocab = std::move(v);
  }
  mf.metadata = std::move(md.scalars);
  mf.storage = std::move(storage);
  return mf;
}

Result<Vocab> parse_gguf_vocab(const uint8_t* data, size_t size, const std::string& path) {
  if (data == nullptr || size == 0) return Status::Corruption(path + ": file is empty (0 bytes)");
  GgufParser p(data, size, path);
  gguf::Header h;
  Metadata md;
  KVF_RETURN_IF_ERROR(gguf::parse_front(p, &h, &md));
  return gguf::decode_vocab(data, size, md, path);
}

Result<ModelFile> read_gguf(const std::string& path) {
  std::shared_ptr<const void> storage;
  const uint8_t* data = nullptr;
  size_t size = 0;
  KVF_RETURN_IF_ERROR(detail::map_file_readonly(path, &storage, &data, &size));
  return parse_gguf(data, size, std::move(storage), path);
}

Result<Vocab> read_gguf_vocab(const std::string& path) {
  std::shared_ptr<const void> storage;
  const uint8_t* data = nullptr;
  size_t size = 0;
  KVF_RETURN_IF_ERROR(detail::map_file_readonly(path, &storage, &data, &size));
  return parse_gguf_vocab(data, size, path);
}

}  // namespace kvforge::model

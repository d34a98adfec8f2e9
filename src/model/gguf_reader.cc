#include "kvforge/model/gguf_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "model/mapped_file.h"

namespace kvforge::model {

namespace {

using core::TensorType;

// GGUF value types.
enum GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
constexpr uint32_t kNumTypes = 13;

const char* gguf_type_name(uint32_t t) {
  static const char* const kNames[] = {"uint8", "int8",  "uint16", "int16", "uint32", "int32",  "float32",
                                       "bool",  "string", "array", "uint64", "int64", "float64"};
  return t < kNumTypes ? kNames[t] : "unknown";
}

// Bytes of one scalar element; 0 for string/array (variable size).
size_t scalar_size(uint32_t t) {
  switch (t) {
    case kU8: case kI8: case kBool: return 1;
    case kU16: case kI16: return 2;
    case kU32: case kI32: case kF32: return 4;
    case kU64: case kI64: case kF64: return 8;
    default: return 0;
  }
}

// Tensor infos and keys are short; longer strings mean a corrupt length field
// (the spec caps keys at 65535 bytes; GGML caps tensor names at 64).
constexpr uint64_t kMaxKeyLen = 65535;
constexpr uint64_t kMaxTensorNameLen = 1024;
constexpr uint32_t kMaxDims = 4;     // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;    // nested arrays in metadata

// Bounds-checked little-endian cursor over the file image. Every read names
// what it wanted, so truncation errors say where the file ends.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const uint8_t* at(size_t off) const { return data_ + off; }

  Status truncated(std::string_view what, uint64_t need) const {
    return Status::Corruption(path_ + ": truncated GGUF: need " + std::to_string(need) + " bytes for " +
                              std::string(what) + " at offset " + std::to_string(pos_) + ", but only " +
                              std::to_string(remaining()) + " remain (file is " + std::to_string(size_) + " bytes)");
  }

  Status skip(uint64_t n, std::string_view what) {
    if (n > remaining()) return truncated(what, n);
    pos_ += static_cast<size_t>(n);
    return Status::OK();
  }

  template <typename T>
  Status read(T* out, std::string_view what) {
    if (sizeof(T) > remaining()) return truncated(what, sizeof(T));
    std::memcpy(out, data_ + pos_, sizeof(T));  // host is little-endian, as GGUF
    pos_ += sizeof(T);
    return Status::OK();
  }

  // A GGUF string: uint64 length, then bytes (no terminator). The length is
  // checked against the bytes left before anything is allocated.
  Status read_string(std::string* out, std::string_view what, uint64_t max_len) {
    uint64_t len = 0;
    KVF_RETURN_IF_ERROR(read(&len, what));
    if (len > max_len) {
      return Status::Corruption(path_ + ": " + std::string(what) + " has absurd length " + std::to_string(len) +
                                " at offset " + std::to_string(pos_ - 8) + " (limit " + std::to_string(max_len) + ")");
    }
    if (len > remaining()) return truncated(what, len);
    out->assign(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return Status::OK();
  }

  Status skip_string(std::string_view what) {
    uint64_t len = 0;
    KVF_RETURN_IF_ERROR(read(&len, what));
    return skip(len, what);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

// Where an array's elements lie in the file, so the vocabulary arrays can be
// decoded after the metadata pass without copying every array on the way.
struct ArrayRef {
  uint32_t type = 0;
  uint64_t count = 0;
  size_t offset = 0;  // first element
};

struct Metadata {
  std::map<std::string, MetaValue> scalars;
  std::map<std::string, ArrayRef> arrays;
};

struct TensorInfo {
  std::string name;
  TensorType type = TensorType::kF32;
  std::vector<int64_t> dims;
  uint64_t offset = 0;
  size_t nbytes = 0;
};

struct Header {
  uint32_t version = 0;
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
};

class GgufParser {
 public:
  GgufParser(const uint8_t* data, size_t size, const std::string& path) : cur_(data, size, path), path_(path) {}

  Status corrupt(const std::string& msg) const { return Status::Corruption(path_ + ": " + msg); }

  Status parse_header(Header* h) {
    if (cur_.remaining() < 4 || std::memcmp(cur_.at(0), "GGUF", 4) != 0) {
      std::string got;
      for (size_t i = 0; i < 4 && i < cur_.remaining(); ++i) {
        const unsigned char c = *cur_.at(i);
        static const char kHex[] = "0123456789abcdef";
        got += (c >= 32 && c < 127) ? std::string(1, static_cast<char>(c))
                                    : std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
      }
      return corrupt("bad magic \"" + got + "\": not a GGUF file (expected \"GGUF\")");
    }
    KVF_RETURN_IF_ERROR(cur_.skip(4, "magic"));
    KVF_RETURN_IF_ERROR(cur_.read(&h->version, "version"));
    if (h->version == 1) {
      return Status::NotSupported(path_ + ": GGUF version 1 is not supported (32-bit counts; re-convert to v2/v3)");
    }
    if (h->version != 2 && h->version != 3) {
      return Status::NotSupported(path_ + ": unsupported GGUF version " + std::to_string(h->version) +
                                  " (supported: 2, 3)");
    }
    KVF_RETURN_IF_ERROR(cur_.read(&h->n_tensors, "tensor count"));
    KVF_RETURN_IF_ERROR(cur_.read(&h->n_kv, "metadata key/value count"));
    // Smallest possible entries: a KV is key length (8) + type (4) + 1 byte;
    // a tensor info is name length (8) + n_dims (4) + type (4) + offset (8).
    if (h->n_kv > cur_.remaining() / 13) {
      return corrupt("absurd metadata key/value count " + std::to_string(h->n_kv) + " for a file of " +
                     std::to_string(cur_.pos() + cur_.remaining()) + " bytes");
    }
    if (h->n_tensors > cur_.remaining() / 24) {
      return corrupt("absurd tensor count " + std::to_string(h->n_tensors) + " for a file of " +
                     std::to_string(cur_.pos() + cur_.remaining()) + " bytes");
    }
    return Status::OK();
  }

  // Skips one value of type `t` (nested arrays to a bounded depth).
  Status skip_value(uint32_t t, const std::string& key, int depth) {
    if (t == kString) return cur_.skip_string("string value of " + key);
    if (t == kArray) {
      uint32_t et = 0;
      uint64_t count = 0;
      KVF_RETURN_IF_ERROR(read_array_head(key, depth, &et, &count));
      return skip_array_elems(et, count, key, depth);
    }
    const size_t n = scalar_size(t);
    if (n == 0) return corrupt("metadata key '" + key + "' has unknown value type " + std::to_string(t));
    return cur_.skip(n, "value of " + key);
  }

  Status read_array_head(const std::string& key, int depth, uint32_t* et, uint64_t* count) {
    if (depth >= kMaxArrayDepth) {
      return corrupt("metadata key '" + key + "' nests arrays deeper than " + std::to_string(kMaxArrayDepth));
    }
    KVF_RETURN_IF_ERROR(cur_.read(et, "array element type of " + key));
    KVF_RETURN_IF_ERROR(cur_.read(count, "array length of " + key));
    if (*et >= kNumTypes) {
      return corrupt("metadata key '" + key + "' is an array of unknown type " + std::to_string(*et));
    }
    // Every element takes at least one byte (strings 8, nested arrays 12).
    size_t min_elem = scalar_size(*et);
    if (*et == kString) min_elem = 8;
    if (*et == kArray) min_elem = 12;
    if (*count > cur_.remaining() / min_elem) {
      return corrupt("metadata key '" + key + "' claims an array of " + std::to_string(*count) + " " +
                     gguf_type_name(*et) + " elements at offset " + std::to_string(cur_.pos()) + ", more than the " +
                     std::to_string(cur_.remaining()) + " bytes left can hold (truncated or corrupt)");
    }
    return Status::OK();
  }

  Status skip_array_elems(uint32_t et, uint64_t count, const std::string& key, int depth) {
    const size_t n = scalar_size(et);
    if (n != 0) return cur_.skip(count * n, "array data of " + key);  // count*n <= remaining, checked
    for (uint64_t i = 0; i < count; ++i) KVF_RETURN_IF_ERROR(skip_value(et, key, depth + 1));
    return Status::OK();
  }

  Status parse_metadata(const Header& h, Metadata* md) {
    for (uint64_t i = 0; i < h.n_kv; ++i) {
      std::string key;
      KVF_RETURN_IF_ERROR(cur_.read_string(&key, "metadata key #" + std::to_string(i), kMaxKeyLen));
      if (md->scalars.count(key) != 0 || md->arrays.count(key) != 0) {
        return corrupt("duplicate metadata key '" + key + "'");
      }
      uint32_t t = 0;
      KVF_RETURN_IF_ERROR(cur_.read(&t, "value type of " + key));
      if (t >= kNumTypes) {
        return corrupt("metadata key '" + key + "' has unknown value type " + std::to_string(t));
      }
      if (t == kArray) {
        ArrayRef ref;
        KVF_RETURN_IF_ERROR(read_array_head(key, 0, &ref.type, &ref.count));
        ref.offset = cur_.pos();
        KVF_RETURN_IF_ERROR(skip_array_elems(ref.type, ref.count, key, 0));
        md->arrays.emplace(key, ref);
        // Arrays are summarised for listings; the vocabulary ones are decoded later.
        md->scalars.emplace(key, std::string("[") + gguf_type_name(ref.type) + " x " + std::to_string(ref.count) + "]");
        continue;
      }
      MetaValue v;
      KVF_RETURN_IF_ERROR(read_scalar(t, key, &v));
      md->scalars.emplace(std::move(key), std::move(v));
    }
    return Status::OK();
  }

  Status read_scalar(uint32_t t, const std::string& key, MetaValue* v) {
    const std::string what = "value of " + key;
    switch (t) {
      case kU8: { uint8_t x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = uint64_t{x}; break; }
      case kU16: { uint16_t x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = uint64_t{x}; break; }
      case kU32: { uint32_t x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = uint64_t{x}; break; }
      case kU64: { uint64_t x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = x; break; }
      case kI8: { int8_t x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = int64_t{x}; break; }
      case kI16: { int16_t x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = int64_t{x}; break; }
      case kI32: { int32_t x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = int64_t{x}; break; }
      case kI64: { int64_t x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = x; break; }
      case kF32: { float x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = double{x}; break; }
      case kF64: { double x = 0; KVF_RETURN_IF_ERROR(cur_.read(&x, what)); *v = x; break; }
      case kBool: {
        uint8_t x = 0;
        KVF_RETURN_IF_ERROR(cur_.read(&x, what));
        if (x > 1) return corrupt("metadata key '" + key + "' is a bool with value " + std::to_string(x));
        *v = x != 0;
        break;
      }
      case kString: {
        std::string s;
        KVF_RETURN_IF_ERROR(cur_.read_string(&s, what, std::numeric_limits<uint64_t>::max()));
        *v = std::move(s);
        break;
      }
      default: return corrupt("metadata key '" + key + "' has unknown value type " + std::to_string(t));
    }
    return Status::OK();
  }

  Status parse_tensor_infos(const Header& h, std::vector<TensorInfo>* infos) {
    std::set<std::string> names;
    infos->reserve(static_cast<size_t>(h.n_tensors));  // bounded by file size in parse_header
    for (uint64_t i = 0; i < h.n_tensors; ++i) {
      TensorInfo ti;
      KVF_RETURN_IF_ERROR(cur_.read_string(&ti.name, "name of tensor #" + std::to_string(i), kMaxTensorNameLen));
      if (!names.insert(ti.name).second) return corrupt("duplicate tensor name '" + ti.name + "'");
      uint32_t n_dims = 0;
      KVF_RETURN_IF_ERROR(cur_.read(&n_dims, "n_dims of tensor " + ti.name));
      if (n_dims == 0 || n_dims > kMaxDims) {
        return corrupt("tensor '" + ti.name + "' has n_dims = " + std::to_string(n_dims) + " (must be 1.." +
                       std::to_string(kMaxDims) + ")");
      }
      uint64_t elems = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t ne = 0;
        KVF_RETURN_IF_ERROR(cur_.read(&ne, "dims of tensor " + ti.name));
        if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            elems > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ne) {
          return corrupt("tensor '" + ti.name + "' has absurd dimension " + std::to_string(ne) + " (dim " +
                         std::to_string(d) + ")");
        }
        elems *= ne;
        ti.dims.push_back(static_cast<int64_t>(ne));
      }
      // No supported type stores more than two elements per byte, so a tensor
      // with more elements than that cannot lie in this file; checking here
      // also keeps later byte-size arithmetic far from overflow.
      if (elems / 2 > static_cast<uint64_t>(cur_.pos() + cur_.remaining())) {
        return corrupt("tensor '" + ti.name + "' has " + std::to_string(elems) +
                       " elements, more than a file of " + std::to_string(cur_.pos() + cur_.remaining()) +
                       " bytes can hold (absurd dimensions)");
      }
      uint32_t raw_type = 0;
      KVF_RETURN_IF_ERROR(cur_.read(&raw_type, "type of tensor " + ti.name));
      auto type = core::tensor_type_from_ggml(raw_type);
      if (!type.ok()) {
        return Status(type.status().code(), path_ + ": tensor '" + ti.name + "': " + type.status().message());
      }
      ti.type = *type;
      KVF_RETURN_IF_ERROR(cur_.read(&ti.offset, "data offset of tensor " + ti.name));
      auto row = core::tensor_row_bytes(ti.type, ti.dims[0]);
      if (!row.ok()) return corrupt("tensor '" + ti.name + "': " + row.status().message());
      const uint64_t rows = elems / static_cast<uint64_t>(ti.dims[0]);
      if (rows > std::numeric_limits<uint64_t>::max() / *row) {
        return corrupt("tensor '" + ti.name + "' byte size overflows");
      }
      const uint64_t nbytes = rows * *row;
      if (nbytes > std::numeric_limits<size_t>::max()) return corrupt("tensor '" + ti.name + "' byte size overflows");
      ti.nbytes = static_cast<size_t>(nbytes);
      infos->push_back(std::move(ti));
    }
    return Status::OK();
  }

  Cursor& cursor() { return cur_; }

 private:
  Cursor cur_;
  const std::string& path_;
};

// ---- typed metadata access ----

// Integer-valued key of any integer type; nullopt when absent.
Result<std::optional<int64_t>> get_int(const Metadata& md, const std::string& key, const std::string& path) {
  auto it = md.scalars.find(key);
  if (it == md.scalars.end() || md.arrays.count(key) != 0) return std::optional<int64_t>{};
  if (const auto* i = std::get_if<int64_t>(&it->second)) return std::optional<int64_t>{*i};
  if (const auto* u = std::get_if<uint64_t>(&it->second)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Status::Corruption(path + ": metadata key '" + key + "' = " + std::to_string(*u) + " is out of range");
    }
    return std::optional<int64_t>{static_cast<int64_t>(*u)};
  }
  return Status::Corruption(path + ": metadata key '" + key + "' should be an integer");
}

// As get_int, but the value must fit an int (all model dimensions do).
Result<std::optional<int>> get_small_int(const Metadata& md, const std::string& key, const std::string& path) {
  KVF_ASSIGN_OR_RETURN(std::optional<int64_t> v, get_int(md, key, path));
  if (!v) return std::optional<int>{};
  if (*v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max()) {
    return Status::Corruption(path + ": metadata key '" + key + "' = " + std::to_string(*v) + " is out of range");
  }
  return std::optional<int>{static_cast<int>(*v)};
}

Result<std::optional<double>> get_float(const Metadata& md, const std::string& key, const std::string& path) {
  auto it = md.scalars.find(key);
  if (it == md.scalars.end()) return std::optional<double>{};
  if (const auto* d = std::get_if<double>(&it->second)) {
    if (!std::isfinite(*d)) return Status::Corruption(path + ": metadata key '" + key + "' is not finite");
    return std::optional<double>{*d};
  }
  return Status::Corruption(path + ": metadata key '" + key + "' should be a float");
}

Result<std::optional<bool>> get_bool(const Metadata& md, const std::string& key, const std::string& path) {
  auto it = md.scalars.find(key);
  if (it == md.scalars.end()) return std::optional<bool>{};
  if (const auto* b = std::get_if<bool>(&it->second)) return std::optional<bool>{*b};
  return Status::Corruption(path + ": metadata key '" + key + "' should be a bool");
}

Result<std::optional<std::string>> get_string(const Metadata& md, const std::string& key, const std::string& path) {
  auto it = md.scalars.find(key);
  if (it == md.scalars.end() || md.arrays.count(key) != 0) return std::optional<std::string>{};
  if (const auto* s = std::get_if<std::string>(&it->second)) return std::optional<std::string>{*s};
  return Status::Corruption(path + ": metadata key '" + key + "' should be a string");
}

// ---- architecture ----

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

// ---- vocabulary ----

// Token strings, scores and types (tokenizer.ggml.tokens / scores / token_type).
Status read_token_arrays(const uint8_t* data, size_t size, const Metadata& md, const ArrayRef& toks,
                         const std::string& path, Vocab* v) {
  const size_t n = static_cast<size_t>(toks.count);
  v->tokens.reserve(n);
  // The metadata pass has already walked these strings inside the file.
  Cursor c(data, size, path);
  KVF_RETURN_IF_ERROR(c.skip(toks.offset, "token array"));
  for (size_t i = 0; i < n; ++i) {
    std::string s;
    KVF_RETURN_IF_ERROR(c.read_string(&s, "token text", std::numeric_limits<uint64_t>::max()));
    v->max_token_bytes = std::max(v->max_token_bytes, s.size());
    v->tokens.push_back(std::move(s));
  }
  auto sc = md.arrays.find("tokenizer.ggml.scores");
  if (sc != md.arrays.end()) {
    if (sc->second.type != kF32 || sc->second.count != toks.count) {
      return Status::Corruption(path + ": 'tokenizer.ggml.scores' is " + gguf_type_name(sc->second.type) + " x " +
                                std::to_string(sc->second.count) + ", expected float32 x " + std::to_string(n));
    }
    v->scores.resize(n);
    std::memcpy(v->scores.data(), data + sc->second.offset, n * sizeof(float));
  } else {
    v->scores.assign(n, 0.0f);
  }
  auto ty = md.arrays.find("tokenizer.ggml.token_type");
  if (ty == md.arrays.end()) {
    v->types.assign(n, Vocab::kNormal);
    return Status::OK();
  }
  if ((ty->second.type != kI32 && ty->second.type != kU32) || ty->second.count != toks.count) {
    return Status::Corruption(path + ": 'tokenizer.ggml.token_type' is " + gguf_type_name(ty->second.type) + " x " +
                              std::to_string(ty->second.count) + ", expected int32 x " + std::to_string(n));
  }
  v->types.resize(n);
  std::memcpy(v->types.data(), data + ty->second.offset, n * sizeof(int32_t));
  for (size_t i = 0; i < n; ++i) {
    if (v->types[i] >= Vocab::kNormal && v->types[i] <= Vocab::kByte) continue;
    // GGUF type 0 is "undefined"; treat it like a normal piece rather than reject the vocabulary.
    if (v->types[i] != 0) {
      return Status::Corruption(path + ": token " + std::to_string(i) + " has unknown token type " +
                                std::to_string(v->types[i]));
    }
    v->types[i] = Vocab::kNormal;
  }
  return Status::OK();
}

// tokenizer.ggml.merges: BPE merges in rank order, each "left right".
Status read_merges(const uint8_t* data, size_t size, const Metadata& md, const std::string& path, Vocab* v) {
  auto it = md.arrays.find("tokenizer.ggml.merges");
  if (it == md.arrays.end()) return Status::OK();
  if (it->second.type != kString) {
    return Status::Corruption(path + ": 'tokenizer.ggml.merges' is an array of " + gguf_type_name(it->second.type) +
                              ", expected string");
  }
  const size_t n = static_cast<size_t>(it->second.count);  // bounded by the file size in the metadata pass
  v->merges.reserve(n);
  Cursor c(data, size, path);
  KVF_RETURN_IF_ERROR(c.skip(it->second.offset, "merge array"));
  for (size_t i = 0; i < n; ++i) {
    std::string s;
    KVF_RETURN_IF_ERROR(c.read_string(&s, "merge text", std::numeric_limits<uint64_t>::max()));
    v->merges.push_back(std::move(s));
  }
  return Status::OK();
}

// Special token ids. SentencePiece vocabularies keep llama.cpp's defaults
// (1, 2, 0), which must name tokens so callers can index with them; other
// models default to none (-1) rather than to llama.cpp's Falcon-era 11.
Status read_special_ids(const Metadata& md, const std::string& path, Vocab* v) {
  const bool spm = v->model == "llama";
  if (!spm) v->bos_id = v->eos_id = v->unk_id = -1;
  const size_t n = v->tokens.size();
  struct Key {
    const char* key;
    int32_t* dst;
  };
  const Key ids[] = {{"tokenizer.ggml.bos_token_id", &v->bos_id},     {"tokenizer.ggml.eos_token_id", &v->eos_id},
                     {"tokenizer.ggml.unknown_token_id", &v->unk_id}, {"tokenizer.ggml.eot_token_id", &v->eot_id},
                     {"tokenizer.ggml.eom_token_id", &v->eom_id},     {"tokenizer.ggml.padding_token_id", &v->pad_id}};
  for (const auto& [key, dst] : ids) {
    KVF_ASSIGN_OR_RETURN(std::optional<int64_t> id, get_int(md, key, path));
    if (!id && *dst < 0) continue;
    const int64_t value = id ? *id : *dst;
    if (value < 0 || static_cast<uint64_t>(value) >= n) {
      // Some converters write a padding id one past the vocabulary; nothing here
      // uses padding, so llama.cpp's "ignore a bad special id" is harmless for it.
      if (dst == &v->pad_id) {
        *dst = -1;
        continue;
      }
      return Status::Corruption(path + ": metadata key '" + key + "' = " + std::to_string(value) +
                                (id ? "" : " (default)") + " is not a token id (vocabulary has " + std::to_string(n) +
                                " tokens)");
    }
    *dst = static_cast<int32_t>(value);
  }
  return Status::OK();
}

// add_bos / add_eos / add_space_prefix with llama.cpp's per-model defaults:
// SentencePiece adds BOS and a dummy prefix; byte-level BPE adds neither,
// except the Llama 3 pre-tokenizer family, which adds BOS.
Status read_vocab_flags(const Metadata& md, const std::string& path, Vocab* v) {
  if (v->model != "llama") {
    static constexpr std::string_view kBosPre[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "tekken", "chameleon"};
    v->add_bos = std::find(std::begin(kBosPre), std::end(kBosPre), v->pre) != std::end(kBosPre);
    v->add_space_prefix = false;
  }
  KVF_ASSIGN_OR_RETURN(std::optional<bool> add_bos, get_bool(md, "tokenizer.ggml.add_bos_token", path));
  if (add_bos) v->add_bos = *add_bos;
  KVF_ASSIGN_OR_RETURN(std::optional<bool> add_eos, get_bool(md, "tokenizer.ggml.add_eos_token", path));
  if (add_eos) v->add_eos = *add_eos;
  KVF_ASSIGN_OR_RETURN(std::optional<bool> add_space, get_bool(md, "tokenizer.ggml.add_space_prefix", path));
  if (add_space) v->add_space_prefix = *add_space;
  v->space_marker = "\xE2\x96\x81";
  return Status::OK();
}

Result<Vocab> decode_vocab(const uint8_t* data, size_t size, const Metadata& md, const std::string& path) {
  auto tok_it = md.arrays.find("tokenizer.ggml.tokens");
  if (tok_it == md.arrays.end()) {
    return Status::NotFound(path + ": no vocabulary (metadata key 'tokenizer.ggml.tokens' is missing)");
  }
  const ArrayRef& toks = tok_it->second;
  if (toks.type != kString) {
    return Status::Corruption(path + ": 'tokenizer.ggml.tokens' is an array of " + gguf_type_name(toks.type) +
                              ", expected string");
  }
  if (toks.count == 0 || toks.count > (uint64_t{1} << 22)) {
    return Status::Corruption(path + ": 'tokenizer.ggml.tokens' has " + std::to_string(toks.count) +
                              " tokens (must be 1.." + std::to_string(uint64_t{1} << 22) + ")");
  }
  Vocab v;
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> model, get_string(md, "tokenizer.ggml.model", path));
  if (model) v.model = *model;
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> pre, get_string(md, "tokenizer.ggml.pre", path));
  if (pre) v.pre = *pre;
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> name, get_string(md, "general.name", path));
  if (name) v.name = *name;
  try {
    KVF_RETURN_IF_ERROR(read_token_arrays(data, size, md, toks, path, &v));
    KVF_RETURN_IF_ERROR(read_merges(data, size, md, path, &v));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(path + ": out of memory reading a vocabulary of " + std::to_string(toks.count) +
                                     " tokens");
  }
  KVF_RETURN_IF_ERROR(read_special_ids(md, path, &v));
  KVF_RETURN_IF_ERROR(read_vocab_flags(md, path, &v));
  return v;
}

Status parse_front(GgufParser& p, Header* h, Metadata* md) {
  KVF_RETURN_IF_ERROR(p.parse_header(h));
  try {
    KVF_RETURN_IF_ERROR(p.parse_metadata(*h, md));
  } catch (const std::bad_alloc&) {
    return p.corrupt("out of memory while reading metadata");
  }
  return Status::OK();
}

std::string shape_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

Result<ModelFile> parse_gguf(const uint8_t* data, size_t size, std::shared_ptr<const void> storage,
                             const std::string& path) {
  if (data == nullptr || size == 0) return Status::Corruption(path + ": file is empty (0 bytes)");
  GgufParser p(data, size, path);
  Header h;
  Metadata md;
  KVF_RETURN_IF_ERROR(parse_front(p, &h, &md));
  std::vector<TensorInfo> infos;
  try {
    KVF_RETURN_IF_ERROR(p.parse_tensor_infos(h, &infos));
  } catch (const std::bad_alloc&) {
    return p.corrupt("out of memory while reading tensor infos");
  }

  // Data section: after the tensor infos, aligned to general.alignment.
  uint64_t alignment = 32;
  auto al_it = md.scalars.find("general.alignment");
  if (al_it != md.scalars.end()) {
    // The spec says uint32; accept any integer type a writer may have used.
    std::optional<uint64_t> u;
    if (const auto* x = std::get_if<uint64_t>(&al_it->second)) u = *x;
    if (const auto* x = std::get_if<int64_t>(&al_it->second); x && *x > 0) u = static_cast<uint64_t>(*x);
    if (!u || *u == 0 || (*u & (*u - 1)) != 0 || *u > (uint64_t{1} << 30)) {
      return p.corrupt("general.alignment must be a power of two up to 2^30, got " +
                       (u ? std::to_string(*u) : std::string("a non-positive or non-integer value")));
    }
    alignment = *u;
  }
  const uint64_t info_end = p.cursor().pos();
  const uint64_t data_start = (info_end + alignment - 1) / alignment * alignment;
  if (!infos.empty() && data_start > size) {
    return p.corrupt("truncated GGUF: data section would start at offset " + std::to_string(data_start) +
                     " past the end of the file (" + std::to_string(size) + " bytes)");
  }
  const uint64_t data_size = data_start <= size ? size - data_start : 0;

  ModelFile mf;
  mf.path = path;
  mf.format = "gguf v" + std::to_string(h.version);
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
    mf.tensors.push_back(std::move(t));
  }

  // ---- hyperparameters ----
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> arch, get_string(md, "general.architecture", path));
  if (!arch) return p.corrupt("metadata key 'general.architecture' is missing");
  ModelConfig& c = mf.config;
  KVF_RETURN_IF_ERROR(read_hyperparameters(md, *arch, path, &c));
  KVF_ASSIGN_OR_RETURN(std::optional<std::string> name, get_string(md, "general.name", path));
  if (name) c.name = *name;
  KVF_ASSIGN_OR_RETURN(std::optional<int> vocab_key, get_small_int(md, *arch + ".vocab_size", path));
  const TensorRef* embd = mf.find("token_embd.weight");
  auto tok_arr = md.arrays.find("tokenizer.ggml.tokens");
  if (vocab_key) {
    c.vocab_size = *vocab_key;
  } else if (tok_arr != md.arrays.end()) {
    c.vocab_size = tok_arr->second.count > static_cast<uint64_t>(std::numeric_limits<int>::max())
                       ? std::numeric_limits<int>::max()
                       : static_cast<int>(tok_arr->second.count);
  } else if (embd != nullptr && embd->dims.size() == 2) {
    c.vocab_size = embd->dims[1] > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                                                     : static_cast<int>(embd->dims[1]);
  }
  if (Status s = validate_config(c); !s.ok()) return Status(s.code(), path + ": " + s.message());
  if (c.head_dim == 0) c.head_dim = c.dim / c.n_heads;
  if (c.rope_dim == c.head_dim) c.rope_dim = 0;
  c.tied_output = mf.find("output.weight") == nullptr;

  // A vocabulary-only file (as llama.cpp's tokenizer tests ship) is a tokenizer, not a model.
  if (mf.tensors.empty()) {
    return Status::InvalidArgument(path + ": holds a vocabulary only (no tensors): it can serve as a tokenizer, not "
                                          "as a model");
  }

  // ---- required tensors ----
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  auto expect = [&](const std::string& tname, std::vector<int64_t> dims) -> Status {
    const TensorRef* t = mf.find(tname);
    if (t == nullptr) return p.corrupt("required tensor '" + tname + "' is missing");
    if (t->dims != dims) {
      return p.corrupt("tensor '" + tname + "' has shape " + shape_str(t->dims) + ", expected " + shape_str(dims) +
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

  // ---- vocabulary (optional in a model file) ----
  if (tok_arr != md.arrays.end()) {
    KVF_ASSIGN_OR_RETURN(Vocab v, decode_vocab(data, size, md, path));
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
  Header h;
  Metadata md;
  KVF_RETURN_IF_ERROR(parse_front(p, &h, &md));
  return decode_vocab(data, size, md, path);
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

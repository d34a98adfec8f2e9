#include "model/gguf_parser.h"

#include <limits>
#include <set>
#include <string>
#include <vector>

namespace kvforge::model::gguf {

namespace {

// Tensor infos and keys are short; longer strings mean a corrupt length field
// (the spec caps keys at 65535 bytes; GGML caps tensor names at 64).
constexpr uint64_t kMaxKeyLen = 65535;
constexpr uint64_t kMaxTensorNameLen = 1024;
constexpr uint32_t kMaxDims = 4;     // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;    // nested arrays in metadata

}  // namespace

Status GgufParser::parse_header(Header* h) {
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

Status GgufParser::skip_value(uint32_t t, const std::string& key, int depth) {
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

Status GgufParser::read_array_head(const std::string& key, int depth, uint32_t* et, uint64_t* count) {
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

Status GgufParser::skip_array_elems(uint32_t et, uint64_t count, const std::string& key, int depth) {
  const size_t n = scalar_size(et);
  if (n != 0) return cur_.skip(count * n, "array data of " + key);  // count*n <= remaining, checked
  for (uint64_t i = 0; i < count; ++i) KVF_RETURN_IF_ERROR(skip_value(et, key, depth + 1));
  return Status::OK();
}

Status GgufParser::parse_metadata(const Header& h, Metadata* md) {
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

Status GgufParser::read_scalar(uint32_t t, const std::string& key, MetaValue* v) {
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

Status GgufParser::read_dims(const std::string& name, std::vector<int64_t>* dims, uint64_t* elems) {
  uint32_t n_dims = 0;
  KVF_RETURN_IF_ERROR(cur_.read(&n_dims, "n_dims of tensor " + name));
  if (n_dims == 0 || n_dims > kMaxDims) {
    return corrupt("tensor '" + name + "' has n_dims = " + std::to_string(n_dims) + " (must be 1.." +
                   std::to_string(kMaxDims) + ")");
  }
  *elems = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t ne = 0;
    KVF_RETURN_IF_ERROR(cur_.read(&ne, "dims of tensor " + name));
    if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        *elems > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ne) {
      return corrupt("tensor '" + name + "' has absurd dimension " + std::to_string(ne) + " (dim " +
                     std::to_string(d) + ")");
    }
    *elems *= ne;
    dims->push_back(static_cast<int64_t>(ne));
  }
  // No supported type stores more than two elements per byte, so a tensor
  // with more elements than that cannot lie in this file; checking here
  // also keeps later byte-size arithmetic far from overflow.
  if (*elems / 2 > static_cast<uint64_t>(cur_.pos() + cur_.remaining())) {
    return corrupt("tensor '" + name + "' has " + std::to_string(*elems) + " elements, more than a file of " +
                   std::to_string(cur_.pos() + cur_.remaining()) + " bytes can hold (absurd dimensions)");
  }
  return Status::OK();
}

Status GgufParser::read_type_and_size(uint64_t elems, TensorInfo* ti) {
  uint32_t raw_type = 0;
  KVF_RETURN_IF_ERROR(cur_.read(&raw_type, "type of tensor " + ti->name));
  auto type = core::tensor_type_from_ggml(raw_type);
  if (!type.ok()) {
    return Status(type.status().code(), path_ + ": tensor '" + ti->name + "': " + type.status().message());
  }
  ti->type = *type;
  KVF_RETURN_IF_ERROR(cur_.read(&ti->offset, "data offset of tensor " + ti->name));
  auto row = core::tensor_row_bytes(ti->type, ti->dims[0]);
  if (!row.ok()) return corrupt("tensor '" + ti->name + "': " + row.status().message());
  const uint64_t rows = elems / static_cast<uint64_t>(ti->dims[0]);
  if (rows > std::numeric_limits<uint64_t>::max() / *row) {
    return corrupt("tensor '" + ti->name + "' byte size overflows");
  }
  const uint64_t nbytes = rows * *row;
  if (nbytes > std::numeric_limits<size_t>::max()) return corrupt("tensor '" + ti->name + "' byte size overflows");
  ti->nbytes = static_cast<size_t>(nbytes);
  return Status::OK();
}

Status GgufParser::parse_tensor_infos(const Header& h, std::vector<TensorInfo>* infos) {
  std::set<std::string> names;
  infos->reserve(static_cast<size_t>(h.n_tensors));  // bounded by file size in parse_header
  for (uint64_t i = 0; i < h.n_tensors; ++i) {
    TensorInfo ti;
    KVF_RETURN_IF_ERROR(cur_.read_string(&ti.name, "name of tensor #" + std::to_string(i), kMaxTensorNameLen));
    if (!names.insert(ti.name).second) return corrupt("duplicate tensor name '" + ti.name + "'");
    uint64_t elems = 1;
    KVF_RETURN_IF_ERROR(read_dims(ti.name, &ti.dims, &elems));
    KVF_RETURN_IF_ERROR(read_type_and_size(elems, &ti));
    infos->push_back(std::move(ti));
  }
  return Status::OK();
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

}  // namespace kvforge::model::gguf

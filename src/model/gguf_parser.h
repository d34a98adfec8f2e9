// Internal to the GGUF reader: the header, metadata and tensor-info sections,
// every count and length checked against the bytes left before it is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kvforge/core/tensor_type.h"
#include "model/gguf_cursor.h"
#include "model/gguf_metadata.h"

namespace kvforge::model::gguf {

struct TensorInfo {
  std::string name;
  core::TensorType type = core::TensorType::kF32;
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

  Status parse_header(Header* h);
  Status parse_metadata(const Header& h, Metadata* md);
  Status parse_tensor_infos(const Header& h, std::vector<TensorInfo>* infos);

  Cursor& cursor() { return cur_; }

 private:
  // Skips one value of type `t` (nested arrays to a bounded depth).
  Status skip_value(uint32_t t, const std::string& key, int depth);
  Status read_array_head(const std::string& key, int depth, uint32_t* et, uint64_t* count);
  Status skip_array_elems(uint32_t et, uint64_t count, const std::string& key, int depth);
  Status read_scalar(uint32_t t, const std::string& key, MetaValue* v);
  Status read_dims(const std::string& name, std::vector<int64_t>* dims, uint64_t* elems);
  Status read_type_and_size(uint64_t elems, TensorInfo* ti);

  Cursor cur_;
  const std::string& path_;
};

// Header and metadata: all a vocabulary needs, and the start of a model.
Status parse_front(GgufParser& p, Header* h, Metadata* md);

}  // namespace kvforge::model::gguf

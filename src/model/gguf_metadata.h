// Internal to the GGUF reader: the metadata section, scalars decoded and arrays
// located, with typed access that names the key in every error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "kvforge/core/status.h"
#include "kvforge/model/model_file.h"

namespace kvforge::model::gguf {

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

// Integer-valued key of any integer type; nullopt when absent.
Result<std::optional<int64_t>> get_int(const Metadata& md, const std::string& key, const std::string& path);
// As get_int, but the value must fit an int (all model dimensions do).
Result<std::optional<int>> get_small_int(const Metadata& md, const std::string& key, const std::string& path);
Result<std::optional<double>> get_float(const Metadata& md, const std::string& key, const std::string& path);
Result<std::optional<bool>> get_bool(const Metadata& md, const std::string& key, const std::string& path);
Result<std::optional<std::string>> get_string(const Metadata& md, const std::string& key, const std::string& path);

}  // namespace kvforge::model::gguf

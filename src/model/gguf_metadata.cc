#include "model/gguf_metadata.h"

#include <cmath>
#include <limits>
#include <variant>

namespace kvforge::model::gguf {

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

}  // namespace kvforge::model::gguf

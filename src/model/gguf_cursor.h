// Internal to the GGUF reader: value types and a bounds-checked cursor over the file image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "kvforge/core/status.h"

namespace kvforge::model::gguf {

// GGUF value types.
enum GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
constexpr uint32_t kNumTypes = 13;

inline const char* gguf_type_name(uint32_t t) {
  static const char* const kNames[] = {"uint8", "int8",  "uint16", "int16", "uint32", "int32",  "float32",
                                       "bool",  "string", "array", "uint64", "int64", "float64"};
  return t < kNumTypes ? kNames[t] : "unknown";
}

// Bytes of one scalar element; 0 for string/array (variable size).
inline size_t scalar_size(uint32_t t) {
  switch (t) {
    case kU8: case kI8: case kBool: return 1;
    case kU16: case kI16: return 2;
    case kU32: case kI32: case kF32: return 4;
    case kU64: case kI64: case kF64: return 8;
    default: return 0;
  }
}

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

}  // namespace kvforge::model::gguf

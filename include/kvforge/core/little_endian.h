// Little-endian integer coding for on-disk formats (codec frames, profiles,
// store chunks). Every byte is written explicitly, so files are identical on
// every host; no struct goes to disk raw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kvforge::core {

inline void put_u8(std::string* s, uint8_t v) { s->push_back(static_cast<char>(v)); }
inline void put_u16(std::string* s, uint16_t v) {
  char b[2] = {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
  s->append(b, 2);
}
inline void put_u32(std::string* s, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  s->append(b, 4);
}
inline void put_u64(std::string* s, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  s->append(b, 8);
}
inline uint16_t get_u16(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return static_cast<uint16_t>(b[0] | (b[1] << 8));
}
inline uint32_t get_u32(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8) |
         (static_cast<uint32_t>(b[2]) << 16) | (static_cast<uint32_t>(b[3]) << 24);
}
inline uint64_t get_u64(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return static_cast<uint64_t>(get_u32(b)) | (static_cast<uint64_t>(get_u32(b + 4)) << 32);
}
// Overwrites 8 bytes at `off` (a size or checksum known only after the body).
inline void set_u64(std::string* s, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) (*s)[off + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace kvforge::core

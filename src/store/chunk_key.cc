#include "kvforge/store/chunk_key.h"

#include <xxhash.h>

#include <algorithm>

#include "kvforge/core/little_endian.h"

namespace kvforge::store {

namespace {
constexpr char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string ChunkKey::hex() const {
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    const uint64_t half = i < 8 ? high : low;
    const auto byte = static_cast<uint8_t>(half >> (8 * (7 - i % 8)));
    out[2 * i] = kHexDigits[byte >> 4];
    out[2 * i + 1] = kHexDigits[byte & 15];
  }
  return out;
}

Result<ChunkKey> ChunkKey::from_hex(std::string_view text) {
  if (text.size() != 32) {
    return Status::InvalidArgument("store: key '" + std::string(text) + "' is not 32 hex digits");
  }
  ChunkKey key;
  for (size_t i = 0; i < 32; ++i) {
    const int v = hex_value(text[i]);
    if (v < 0) return Status::InvalidArgument("store: key '" + std::string(text) + "' is not 32 hex digits");
    uint64_t& half = i < 16 ? key.high : key.low;
    half = (half << 4) | static_cast<uint64_t>(v);
  }
  return key;
}

std::string ChunkKey::bytes() const {
  std::string out(16, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(high >> (8 * (7 - i)));
    out[8 + i] = static_cast<char>(low >> (8 * (7 - i)));
  }
  return out;
}

ChunkKey ChunkKey::from_bytes(const void* bytes) {
  const auto* b = static_cast<const uint8_t*>(bytes);
  ChunkKey key;
  for (int i = 0; i < 8; ++i) {
    key.high = (key.high << 8) | b[i];
    key.low = (key.low << 8) | b[8 + i];
  }
  return key;
}

ChunkKey chunk_key(uint64_t model_fingerprint, const ChunkKey* previous, std::span<const int32_t> tokens) {
  // The hashed bytes are built explicitly (not memcpy'd structs) so the key
  // does not depend on the host's byte order.
  std::string input;
  input.reserve(8 + 16 + 4 + 4 * tokens.size());
  core::put_u64(&input, model_fingerprint);
  input += previous ? previous->bytes() : std::string(16, '\0');
  core::put_u32(&input, static_cast<uint32_t>(tokens.size()));
  for (const int32_t t : tokens) core::put_u32(&input, static_cast<uint32_t>(t));
  const XXH128_hash_t h = XXH3_128bits(input.data(), input.size());
  return {h.high64, h.low64};
}

ChunkKeyer::ChunkKeyer(uint64_t model_fingerprint, size_t chunk_tokens)
    : fingerprint_(model_fingerprint), chunk_tokens_(std::max<size_t>(chunk_tokens, 1)) {}

size_t ChunkKeyer::chunk_count(size_t n_tokens) const { return (n_tokens + chunk_tokens_ - 1) / chunk_tokens_; }

std::vector<ChunkKey> ChunkKeyer::keys(std::span<const int32_t> tokens) const {
  std::vector<ChunkKey> out;
  out.reserve(chunk_count(tokens.size()));
  for (size_t begin = 0; begin < tokens.size(); begin += chunk_tokens_) {
    const size_t n = std::min(chunk_tokens_, tokens.size() - begin);
    out.push_back(chunk_key(fingerprint_, out.empty() ? nullptr : &out.back(), tokens.subspan(begin, n)));
  }
  return out;
}

}  // namespace kvforge::store

#include "kvforge/store/chunk_key.h"

#include <xxhash.h>

#include <algorithm>

#include "kvforge/core/hex.h"
#include "kvforge/core/little_endian.h"
#include "kvforge/core/spec.h"

namespace kvforge::store {


std::string ChunkKey::hex() const { return core::to_hex(bytes()); }

Result<ChunkKey> ChunkKey::from_hex(std::string_view text) {
  const std::optional<std::string> raw = text.size() == 32 ? core::from_hex(text) : std::nullopt;
  if (!raw) return Status::InvalidArgument("store: key " + core::quote(text) + " is not 32 hex digits");
  return from_bytes(raw->data());
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

// Chunk keys: the name a context's chunk is stored under (LMCache's design).
// A context's token ids are cut into chunks of `chunk_tokens` (the last one may
// be shorter). The key of chunk i is XXH3_128bits (unseeded, default secret) over
//
//   u64 model_fingerprint | key of chunk i-1 (16 bytes; zeros for chunk 0) |
//   u32 n_tokens | n_tokens x i32 token id            (all little-endian)
//
// so a key names a whole prefix (model and every earlier token), and the same
// tokens give the same key in every process and on every machine (docs/STORE.md).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::store {

inline constexpr size_t kDefaultChunkTokens = 256;

// A 128-bit key. Its text form is 32 lowercase hex digits, high half first
// (XXH128's canonical form); the same 16 bytes in that order are its binary form.
struct ChunkKey {
  uint64_t high = 0;
  uint64_t low = 0;

  std::string hex() const;
  // Exactly 32 hex digits (either case), else InvalidArgument naming the text.
  static Result<ChunkKey> from_hex(std::string_view text);
  // The 16-byte canonical form, and back (bytes must hold 16).
  std::string bytes() const;
  static ChunkKey from_bytes(const void* bytes);

  auto operator<=>(const ChunkKey&) const = default;
};

// Key of one chunk given the key of the chunk before it (nullptr for chunk 0).
ChunkKey chunk_key(uint64_t model_fingerprint, const ChunkKey* previous, std::span<const int32_t> tokens);

// Cuts contexts of one model into chunks and names them. Immutable; thread-safe.
class ChunkKeyer {
 public:
  explicit ChunkKeyer(uint64_t model_fingerprint, size_t chunk_tokens = kDefaultChunkTokens);

  uint64_t model_fingerprint() const { return fingerprint_; }
  size_t chunk_tokens() const { return chunk_tokens_; }
  // Number of chunks `n_tokens` tokens make (the last may be partial).
  size_t chunk_count(size_t n_tokens) const;
  // Keys of every chunk of `tokens`, chunk 0 first.
  std::vector<ChunkKey> keys(std::span<const int32_t> tokens) const;

 private:
  uint64_t fingerprint_;
  size_t chunk_tokens_;
};

}  // namespace kvforge::store

template <>
struct std::hash<kvforge::store::ChunkKey> {
  size_t operator()(const kvforge::store::ChunkKey& k) const noexcept {
    return static_cast<size_t>(k.low ^ (k.high * 0x9e3779b97f4a7c15ull));
  }
};

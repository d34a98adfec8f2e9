// What a stored chunk holds and its bytes (docs/STORE.md): the chunk's key,
// model, place in its context, token ids (so a client can recompute it from
// text) and one codec frame per configured level, under one checksum.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/store/chunk_key.h"

namespace kvforge::store {

// One level of a chunk: `level` is the codec spec that made the frame, as
// codec::Codec::spec() names it ("cachegen:level=3", "q8", "zstd:level=3").
struct LevelFrame {
  std::string level;
  std::string frame;
  std::string mac = {};  // HMAC-SHA256 (32 bytes) when the chunk is signed (chunk_signer.h), else empty
};

struct StoredChunk {
  ChunkKey key;
  uint64_t model_fingerprint = 0;
  uint32_t chunk_index = 0;     // i: the chunk's place in its context
  uint32_t first_position = 0;  // position of tokens[0]
  std::vector<int32_t> tokens;
  std::vector<LevelFrame> levels;  // in the order they were configured

  // The frame of `level` (a spec as LevelFrame names it), or null.
  const LevelFrame* find(std::string_view level) const;
  // NotFound "store: chunk <key> has no level <level> (it has a, b)": what a
  // caller says when find() gave null.
  Status missing_level(std::string_view level) const;
  uint64_t frame_bytes() const;  // sum over levels
  bool is_signed() const { return !levels.empty() && !levels.front().mac.empty(); }
};

// InvalidArgument when a limit is exceeded (no tokens, too many levels, a bad name).
Result<std::string> serialize_chunk(const StoredChunk& chunk);

// Verifies and parses a container: Corruption for wrong magic, a checksum
// mismatch, a truncated or padded container, reserved bits set, inconsistent
// counts, or a frame whose header disagrees with the container (model, tokens,
// first position, level name); NotSupported for another format version.
// Messages do not name the key (the caller knows it); never crashes.
Result<StoredChunk> parse_chunk(std::string_view bytes);

}  // namespace kvforge::store

// Stored chunks in a backend: a StoredChunk goes in as its container bytes and
// comes out verified. This is what a server, a client and the CLI call.
#pragma once

#include "kvforge/store/backend.h"
#include "kvforge/store/stored_chunk.h"

namespace kvforge::store {

// Serializes and stores `chunk` under chunk.key.
Status put_chunk(Backend& backend, const StoredChunk& chunk);

// Fetches and verifies the chunk stored under `key` (a use, for LRU). NotFound
// when absent; Corruption naming the key when its bytes are damaged, truncated
// or hold another key's chunk: drop it (Backend::remove) and recompute.
Result<StoredChunk> get_chunk(Backend& backend, const ChunkKey& key);
// As get_chunk, without counting a use (backends that support peek).
Result<StoredChunk> peek_chunk(Backend& backend, const ChunkKey& key);

// Verifies container bytes that were stored under `key`.
Result<StoredChunk> parse_stored(const ChunkKey& key, std::string_view bytes);

}  // namespace kvforge::store

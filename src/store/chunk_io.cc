#include "kvforge/store/chunk_io.h"

namespace kvforge::store {

Status put_chunk(Backend& backend, const StoredChunk& chunk) {
  KVF_ASSIGN_OR_RETURN(const std::string bytes, serialize_chunk(chunk));
  return backend.put(chunk.key, bytes);
}

Result<StoredChunk> parse_stored(const ChunkKey& key, std::string_view bytes) {
  auto chunk = parse_chunk(bytes);
  if (!chunk.ok()) return chunk.status().with_context("store: chunk " + key.hex());
  if (chunk->key != key) {
    return Status::Corruption("store: chunk " + key.hex() + " holds the chunk of key " + chunk->key.hex());
  }
  return chunk;
}

Result<StoredChunk> get_chunk(Backend& backend, const ChunkKey& key) {
  KVF_ASSIGN_OR_RETURN(const std::string bytes, backend.get(key));
  return parse_stored(key, bytes);
}

Result<StoredChunk> peek_chunk(Backend& backend, const ChunkKey& key) {
  KVF_ASSIGN_OR_RETURN(const std::string bytes, backend.peek(key));
  return parse_stored(key, bytes);
}

}  // namespace kvforge::store

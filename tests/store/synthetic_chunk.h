// A small StoredChunk built from synthetic KV, for the format and backend tests.
#pragma once

#include <numeric>

#include "codec/test_chunks.h"
#include "kvforge/store/chunk_encoder.h"

namespace kvforge::store::testdata {

inline constexpr uint64_t kFingerprint = 0x5eed5eed5eed5eedull;

inline StoredChunk synthetic_chunk(uint32_t chunk_index = 1, size_t n_tokens = 24,
                                   std::vector<std::string> levels = {"q8", "cachegen:level=3"}) {
  const codec::KvChunk kv = codec::testdata::make_chunk({2, 2, 16}, n_tokens, 7 + chunk_index);
  std::vector<int32_t> tokens(n_tokens);
  std::iota(tokens.begin(), tokens.end(), static_cast<int32_t>(chunk_index * n_tokens));
  const ChunkKey key = chunk_key(kFingerprint, nullptr, tokens);
  auto enc = ChunkEncoder::make(levels, kFingerprint);
  KVF_CHECK(enc.ok());
  auto chunk = enc->encode(key, chunk_index, static_cast<uint32_t>(chunk_index * n_tokens), tokens, kv.view());
  KVF_CHECK(chunk.ok());
  return std::move(*chunk);
}

}  // namespace kvforge::store::testdata

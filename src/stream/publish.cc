#include "kvforge/stream/publish.h"

#include <algorithm>
#include <cstring>

#include "kvforge/store/chunk_io.h"

namespace kvforge::stream {

Result<size_t> publish_context(kv::Recompute& session, store::Backend& backend, std::span<const int32_t> tokens,
                               const store::ChunkEncoder& encoder, size_t chunk_tokens, size_t max_chunks,
                               store::StoredChunk* first_chunk) {
  if (tokens.empty() || chunk_tokens == 0) return Status::InvalidArgument("publish_context: no tokens or chunk size 0");
  session.reset();
  const store::ChunkKeyer keyer(session.model_fingerprint(), chunk_tokens);
  const std::vector<store::ChunkKey> keys = keyer.keys(tokens);
  const size_t n = std::min(max_chunks, keys.size());
  const size_t n_tokens = std::min(tokens.size(), n * chunk_tokens);
  KVF_RETURN_IF_ERROR(session.recompute(tokens.first(n_tokens), nullptr));
  for (size_t i = 0; i < n; ++i) {
    const size_t begin = i * chunk_tokens, end = std::min(tokens.size(), begin + chunk_tokens);
    kv::DenseKvF32 part;
    KVF_RETURN_IF_ERROR(session.cache().export_range(begin, end, &part));
    KVF_ASSIGN_OR_RETURN(store::StoredChunk chunk,
                         encoder.encode(keys[i], static_cast<uint32_t>(i), static_cast<uint32_t>(begin),
                                        tokens.subspan(begin, end - begin), part.view(), session.pool()));
    KVF_RETURN_IF_ERROR(store::put_chunk(backend, chunk));
    if (i == 0 && first_chunk) *first_chunk = std::move(chunk);
  }
  return n;
}

}  // namespace kvforge::stream

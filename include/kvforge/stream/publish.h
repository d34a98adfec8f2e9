// Publishing a context's KV cache to a store: prefill the tokens, cut the KV
// into chunks (store::ChunkKeyer), encode each at every level of `encoder`
// and store it (what `kvforge store put` does; a node that computed a context
// publishes it this way).
#pragma once

#include <cstddef>
#include <limits>
#include <span>

#include "kvforge/kv/recompute.h"
#include "kvforge/store/backend.h"
#include "kvforge/store/chunk_encoder.h"
#include "kvforge/store/stored_chunk.h"

namespace kvforge::stream {

// Stores the first min(max_chunks, chunk count) chunks of `tokens` (BOS first);
// returns how many. The prefill runs in `session` (a model::Session; reset
// first; its KV type decides what the stored KV is). `first_chunk` (optional)
// receives chunk 0 as stored.
Result<size_t> publish_context(kv::Recompute& session, store::Backend& backend, std::span<const int32_t> tokens,
                               const store::ChunkEncoder& encoder, size_t chunk_tokens,
                               size_t max_chunks = std::numeric_limits<size_t>::max(),
                               store::StoredChunk* first_chunk = nullptr);

}  // namespace kvforge::stream

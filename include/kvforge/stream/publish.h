// Publishing a context's KV cache to a store: prefill the tokens, cut the KV
// into chunks (store::ChunkKeyer), encode each at every level of `encoder`
// and store it (what `kvforge store put` does; a node that computed a context
// publishes it this way).
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <span>

#include "kvforge/model/llama.h"
#include "kvforge/store/backend.h"
#include "kvforge/store/chunk_encoder.h"
#include "kvforge/store/stored_chunk.h"

namespace kvforge::stream {

// Stores the first min(max_chunks, chunk count) chunks of `tokens` (BOS first);
// returns how many. The prefill runs in a session built from `session` (threads,
// KV type: the stored KV is what a cache of that type holds). `first_chunks`
// (optional) receives chunk 0 as stored.
Result<size_t> publish_context(std::shared_ptr<const model::LlamaModel> model, store::Backend& backend,
                               std::span<const int32_t> tokens, const store::ChunkEncoder& encoder,
                               size_t chunk_tokens, const model::SessionOptions& session,
                               size_t max_chunks = std::numeric_limits<size_t>::max(),
                               store::StoredChunk* first_chunk = nullptr);

}  // namespace kvforge::stream

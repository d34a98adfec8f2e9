// Internal to the loader: turning a fetched frame into KV the cache imports,
// after checking it is this context's chunk for this model (shape, place,
// fingerprint, and content: content_check.h).
#pragma once
#include <span>
#include <string>

#include "kvforge/codec/codec.h"
#include "kvforge/kv/kv_cache.h"
#include "kvforge/kv/recompute.h"
#include "kvforge/stream/content_check.h"
#include "kvforge/stream/loader.h"

namespace kvforge::stream {

// Tokens [0, keep) of a decoded chunk, at positions first...
kv::DenseKvF32 keep_prefix(codec::KvChunk&& chunk, size_t keep, int32_t first);

// Decodes a fetched frame and checks it is the chunk of `tokens` from position
// `first` for this model; Corruption naming what disagrees.
Status decode_chunk(const std::string& frame, kv::Recompute& session, std::span<const int32_t> tokens, size_t first,
                    const LoadOptions& options, core::ThreadPool* pool, codec::KvChunk* out, ContentCheck* check);

}  // namespace kvforge::stream

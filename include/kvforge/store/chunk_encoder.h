// Turns one chunk of a context's KV cache into a StoredChunk: its frame at
// every configured codec level, plus its token ids; and decodes a level back.
// The caller cuts the context (ChunkKeyer) and exports chunk i's KV, tokens
// [i * chunk_tokens, ...), as a codec::KvChunkView (kv::DenseKvF32 converts).
//
// Thread-safety: immutable after make(); encode may run concurrently (each
// call with its own pool, if any).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/store/stored_chunk.h"

namespace kvforge::store {

class ChunkEncoder {
 public:
  // `levels`: codec specs (codec::make_codec), each kept under its canonical
  // name (codec::Codec::spec()). InvalidArgument for a bad or repeated spec or
  // none at all. `profile` (optional, must outlive the encoder) codes cachegen
  // levels with the model's tables.
  static Result<ChunkEncoder> make(const std::vector<std::string>& levels, uint64_t model_fingerprint,
                                   const codec::Profile* profile = nullptr);

  // Canonical level names, in the configured order.
  std::vector<std::string> levels() const;

  // InvalidArgument when tokens.size() != kv.n_tokens or a codec refuses the KV.
  Result<StoredChunk> encode(const ChunkKey& key, uint32_t chunk_index, uint32_t first_position,
                             std::span<const int32_t> tokens, const codec::KvChunkView& kv,
                             core::ThreadPool* pool = nullptr) const;

 private:
  ChunkEncoder() = default;
  uint64_t fingerprint_ = 0;
  const codec::Profile* profile_ = nullptr;
  std::vector<std::shared_ptr<const codec::Codec>> codecs_;
};

// Decodes `level` (any spec make_codec takes, e.g. "cachegen:3") of a chunk.
// NotFound when the chunk lacks it (naming the levels it has); the frame's
// model must be the chunk's. `opts.profile` is needed for profile frames.
Status decode_level(const StoredChunk& chunk, std::string_view level, codec::KvChunk* out,
                    const codec::DecodeOptions& opts = {});

}  // namespace kvforge::store

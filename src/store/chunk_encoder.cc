#include "kvforge/store/chunk_encoder.h"

#include <set>

namespace kvforge::store {

Result<ChunkEncoder> ChunkEncoder::make(const std::vector<std::string>& levels, uint64_t model_fingerprint,
                                        const codec::Profile* profile) {
  if (levels.empty()) return Status::InvalidArgument("store: no codec level configured");
  ChunkEncoder enc;
  enc.fingerprint_ = model_fingerprint;
  enc.profile_ = profile;
  std::set<std::string> seen;
  for (const std::string& spec : levels) {
    KVF_ASSIGN_OR_RETURN(std::unique_ptr<codec::Codec> c, codec::make_codec(spec));
    if (!seen.insert(c->spec()).second) {
      return Status::InvalidArgument("store: level '" + spec + "' is configured twice (as " + c->spec() + ")");
    }
    enc.codecs_.push_back(std::move(c));
  }
  return enc;
}

std::vector<std::string> ChunkEncoder::levels() const {
  std::vector<std::string> out;
  for (const auto& c : codecs_) out.push_back(c->spec());
  return out;
}

Result<StoredChunk> ChunkEncoder::encode(const ChunkKey& key, uint32_t chunk_index, uint32_t first_position,
                                         std::span<const int32_t> tokens, const codec::KvChunkView& kv,
                                         core::ThreadPool* pool) const {
  if (tokens.size() != kv.n_tokens) {
    return Status::InvalidArgument("store: chunk " + std::to_string(chunk_index) + " has " +
                                   std::to_string(tokens.size()) + " token ids but KV for " +
                                   std::to_string(kv.n_tokens) + " tokens");
  }
  StoredChunk chunk;
  chunk.key = key;
  chunk.model_fingerprint = fingerprint_;
  chunk.chunk_index = chunk_index;
  chunk.first_position = first_position;
  chunk.tokens.assign(tokens.begin(), tokens.end());
  codec::EncodeOptions eo;
  eo.model_fingerprint = fingerprint_;
  eo.pool = pool;
  eo.profile = profile_;
  eo.first_position = static_cast<int32_t>(first_position);
  for (const auto& c : codecs_) {
    auto frame = c->encode(kv, eo);
    if (!frame.ok()) return frame.status().with_context("store: chunk " + std::to_string(chunk_index) + " at " + c->spec());
    chunk.levels.push_back({c->spec(), std::move(*frame)});
  }
  return chunk;
}

Status decode_level(const StoredChunk& chunk, std::string_view level, codec::KvChunk* out,
                    const codec::DecodeOptions& opts) {
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<codec::Codec> c, codec::make_codec(level));
  const LevelFrame* found = chunk.find(c->spec());
  if (!found) {
    return chunk.missing_level(c->spec());
  }
  codec::DecodeOptions o = opts;
  o.expected_fingerprint = chunk.model_fingerprint;
  return c->decode(found->frame, out, o).with_context("store: chunk " + chunk.key.hex() + " at " + c->spec());
}

}  // namespace kvforge::store

#include "kvforge/stream/chunk_source.h"

#include "kvforge/codec/codec.h"
#include "kvforge/store/chunk_io.h"

namespace kvforge::stream {

Result<size_t> BackendSource::lookup(std::span<const store::ChunkKey> keys) { return backend_.longest_prefix(keys); }

Result<Fetched> BackendSource::fetch_level(const store::ChunkKey& key, std::string_view level) {
  const double t0 = core::Env::Default()->now_seconds();
  KVF_ASSIGN_OR_RETURN(auto codec, codec::make_codec(level));
  const std::string spec = codec->spec();
  KVF_ASSIGN_OR_RETURN(store::StoredChunk chunk, store::get_chunk(backend_, key));
  for (auto& l : chunk.levels) {
    if (l.level == spec) return Fetched{std::move(l.frame), core::Env::Default()->now_seconds() - t0};
  }
  return Status::NotFound("chunk " + key.hex() + " has no level " + spec);
}

Result<std::vector<int32_t>> BackendSource::fetch_tokens(const store::ChunkKey& key) {
  KVF_ASSIGN_OR_RETURN(store::StoredChunk chunk, store::get_chunk(backend_, key));
  return std::move(chunk.tokens);
}

ThrottledSource::ThrottledSource(ChunkSource& inner, const BandwidthTrace& trace, core::Clock& clock)
    : inner_(inner), trace_(trace), clock_(clock), origin_(clock.now_seconds()) {}

void ThrottledSource::restart() {
  origin_ = clock_.now_seconds();
  bytes_ = 0;
}

double ThrottledSource::pace(double start, double bytes) {
  clock_.sleep_until(start + trace_.transfer_seconds(start - origin_, bytes));
  bytes_ += static_cast<uint64_t>(bytes);
  return clock_.now_seconds() - start;
}

Result<Fetched> ThrottledSource::fetch_level(const store::ChunkKey& key, std::string_view level) {
  const double start = clock_.now_seconds();
  KVF_ASSIGN_OR_RETURN(Fetched f, inner_.fetch_level(key, level));
  f.seconds = pace(start, static_cast<double>(f.bytes.size()));
  return f;
}

Result<std::vector<int32_t>> ThrottledSource::fetch_tokens(const store::ChunkKey& key) {
  const double start = clock_.now_seconds();
  KVF_ASSIGN_OR_RETURN(std::vector<int32_t> t, inner_.fetch_tokens(key));
  pace(start, 4.0 * static_cast<double>(t.size()));
  return t;
}

}  // namespace kvforge::stream

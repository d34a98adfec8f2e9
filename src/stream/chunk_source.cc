#include "kvforge/stream/chunk_source.h"

#include <limits>

#include "kvforge/codec/codec.h"
#include "kvforge/store/chunk_io.h"

namespace kvforge::stream {

Status check_cap(uint64_t bytes, const FetchLimits& limits, const std::string& what) {
  if (bytes <= limits.max_bytes) return Status::OK();
  return Status::ResourceExhausted(what + ": " + std::to_string(bytes) + " bytes exceed the cap of " +
                                   std::to_string(limits.max_bytes));
}

Result<size_t> BackendSource::lookup(std::span<const store::ChunkKey> keys, const FetchLimits&) {
  return backend_.longest_prefix(keys);
}

// A local read cannot be abandoned half way; the cap still holds for what it returns.
Result<Fetched> BackendSource::fetch_level(const store::ChunkKey& key, std::string_view level,
                                           const FetchLimits& limits) {
  const double t0 = core::Env::Default()->now_seconds();
  KVF_ASSIGN_OR_RETURN(auto codec, codec::make_codec(level));
  const std::string spec = codec->spec();
  KVF_ASSIGN_OR_RETURN(store::StoredChunk chunk, store::get_chunk(backend_, key));
  for (auto& l : chunk.levels) {
    if (l.level != spec) continue;
    KVF_RETURN_IF_ERROR(check_cap(l.frame.size(), limits, "chunk " + key.hex() + " level " + spec));
    return Fetched{std::move(l.frame), core::Env::Default()->now_seconds() - t0, std::move(l.mac)};
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

double ThrottledSource::pace(double start, double bytes, double limit) {
  const double end = start + trace_.transfer_seconds(start - origin_, bytes);
  if (end - start > limit) {
    clock_.sleep_until(start + limit);
    return -1;
  }
  clock_.sleep_until(end);
  bytes_ += static_cast<uint64_t>(bytes);
  return clock_.now_seconds() - start;
}

Result<Fetched> ThrottledSource::fetch_level(const store::ChunkKey& key, std::string_view level,
                                             const FetchLimits& limits) {
  const double start = clock_.now_seconds();
  KVF_ASSIGN_OR_RETURN(Fetched f, inner_.fetch_level(key, level, limits));
  f.seconds = pace(start, static_cast<double>(f.bytes.size()), limits.timeout_seconds);
  if (f.seconds < 0) {
    return Status::IOError("emulated link: chunk " + key.hex() + " level " + std::string(level) +
                           " would arrive after its " + std::to_string(limits.timeout_seconds * 1e3) + " ms limit");
  }
  return f;
}

Result<std::vector<int32_t>> ThrottledSource::fetch_tokens(const store::ChunkKey& key) {
  const double start = clock_.now_seconds();
  KVF_ASSIGN_OR_RETURN(std::vector<int32_t> t, inner_.fetch_tokens(key));
  pace(start, 4.0 * static_cast<double>(t.size()), std::numeric_limits<double>::infinity());
  return t;
}

}  // namespace kvforge::stream

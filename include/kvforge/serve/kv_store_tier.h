// The engine's store (tiers 2 and 3): where prompt chunks are looked up and
// loaded from, and where new ones are put. A store URL as the CLI takes it:
// file:///dir, redis://host:port, mem:// (store::open_backend), or
// http://host:port, a kvforge chunk server (`kvforge store serve`).
//
// Threading: reads (source(), sample()) come from the engine's scheduler
// thread, puts from its background thread; each has its own connection.
#pragma once

#include <memory>
#include <string>

#include "kvforge/core/status.h"
#include "kvforge/store/backend.h"
#include "kvforge/store/stored_chunk.h"
#include "kvforge/stream/bandwidth_trace.h"
#include "kvforge/stream/chunk_source.h"

namespace kvforge::server {
class StoreClient;
}

namespace kvforge::serve {

class KvStoreTier {
 public:
  static Result<std::shared_ptr<KvStoreTier>> open(const std::string& url, const std::string& token = {});
  // A backend of this process (tests, benches).
  static std::shared_ptr<KvStoreTier> over(std::shared_ptr<store::Backend> backend);
  ~KvStoreTier();

  const std::string& url() const { return url_; }
  bool remote() const { return reader_ != nullptr; }
  // Reads cross an emulated link following `trace` (time 0: now); null: direct.
  void set_link(std::shared_ptr<const stream::BandwidthTrace> trace);
  stream::ChunkSource& source();
  // The whole stored chunk (calibration sample).
  Result<store::StoredChunk> sample(const store::ChunkKey& key);
  Status put(const store::StoredChunk& chunk);

 private:
  KvStoreTier() = default;
  std::string url_;
  std::shared_ptr<store::Backend> backend_;
  std::unique_ptr<server::StoreClient> reader_, writer_;
  std::unique_ptr<stream::ChunkSource> direct_;
  std::shared_ptr<const stream::BandwidthTrace> trace_;
  std::unique_ptr<stream::ThrottledSource> throttled_;
};

}  // namespace kvforge::serve

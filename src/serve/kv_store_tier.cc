#include "kvforge/serve/kv_store_tier.h"

#include "kvforge/core/env.h"
#include "kvforge/server/client.h"
#include "kvforge/store/chunk_io.h"
#include "kvforge/store/registry.h"

namespace kvforge::serve {

KvStoreTier::~KvStoreTier() = default;

Result<std::shared_ptr<KvStoreTier>> KvStoreTier::open(const std::string& url, const std::string& token) {
  if (url.rfind("http://", 0) != 0) {
    KVF_ASSIGN_OR_RETURN(std::unique_ptr<store::Backend> backend, store::open_backend(url));
    auto tier = over(std::shared_ptr<store::Backend>(std::move(backend)));
    tier->url_ = url;
    return tier;
  }
  auto tier = std::shared_ptr<KvStoreTier>(new KvStoreTier());
  tier->url_ = url;
  KVF_ASSIGN_OR_RETURN(tier->reader_, server::StoreClient::make(url, {.token = token}));
  KVF_ASSIGN_OR_RETURN(tier->writer_, server::StoreClient::make(url, {.token = token}));
  tier->direct_ = std::make_unique<stream::ClientSource<server::StoreClient>>(*tier->reader_);
  return tier;
}

std::shared_ptr<KvStoreTier> KvStoreTier::over(std::shared_ptr<store::Backend> backend) {
  auto tier = std::shared_ptr<KvStoreTier>(new KvStoreTier());
  tier->url_ = "(in process)";
  tier->backend_ = std::move(backend);
  tier->direct_ = std::make_unique<stream::BackendSource>(*tier->backend_);
  return tier;
}

void KvStoreTier::set_link(std::shared_ptr<const stream::BandwidthTrace> trace) {
  throttled_.reset();
  trace_ = std::move(trace);
  if (trace_) throttled_ = std::make_unique<stream::ThrottledSource>(*direct_, *trace_, *core::Env::Default());
}

stream::ChunkSource& KvStoreTier::source() { return throttled_ ? *throttled_ : *direct_; }

Result<store::StoredChunk> KvStoreTier::sample(const store::ChunkKey& key) {
  if (backend_) return store::peek_chunk(*backend_, key);
  server::ResponseLimits limits;
  limits.timeout_seconds = 5;
  limits.max_bytes = uint64_t{256} << 20;
  KVF_ASSIGN_OR_RETURN(server::Fetched whole, reader_->fetch_chunk(key, limits));
  return store::parse_stored(key, whole.bytes);
}

Status KvStoreTier::put(const store::StoredChunk& chunk) {
  if (backend_) return store::put_chunk(*backend_, chunk);
  return writer_->put(chunk);
}

}  // namespace kvforge::serve

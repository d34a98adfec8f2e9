// mem://: blobs in process memory under an LRU byte bound.
#include <unordered_map>

#include "store/backends.h"
#include "store/lru_backend.h"

namespace kvforge::store {

namespace {

constexpr uint64_t kDefaultMemCapacity = 1ull << 30;

class MemBackend final : public LruBackend {
 public:
  MemBackend(std::string url, uint64_t capacity, core::Env* env) : LruBackend(std::move(url), capacity, env) {}

  Status put(const ChunkKey& key, std::string_view bytes) override {
    KVF_RETURN_IF_ERROR(check_fits(key, bytes.size()));
    std::lock_guard lock(mu_);
    blobs_[key] = std::string(bytes);
    index_.insert(key, bytes.size(), env_->now_micros());
    for (const ChunkKey& victim : index_.victims(&key)) {
      blobs_.erase(victim);
      index_.erase(victim);
      index_.count_eviction();
    }
    return Status::OK();
  }

  Result<std::string> get(const ChunkKey& key) override { return read(key, /*count_use=*/true); }
  Result<std::string> peek(const ChunkKey& key) override { return read(key, /*count_use=*/false); }

  Status remove(const ChunkKey& key) override {
    std::lock_guard lock(mu_);
    if (!index_.erase(key)) return not_found(key);
    blobs_.erase(key);
    return Status::OK();
  }

 private:
  Result<std::string> read(const ChunkKey& key, bool count_use) {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(key);
    if (it == blobs_.end()) return not_found(key);
    if (count_use) index_.touch(key, env_->now_micros());
    return it->second;
  }

  std::unordered_map<ChunkKey, std::string> blobs_;
};

}  // namespace

Result<std::unique_ptr<Backend>> open_mem_backend(core::Spec& params, const StoreUrl& url, core::Env* env) {
  KVF_ASSIGN_OR_RETURN(const uint64_t capacity, params.get_bytes("capacity", kDefaultMemCapacity));
  KVF_RETURN_IF_ERROR(params.finish());
  if (!url.location.empty()) return params.error("mem:// takes no location");
  return std::unique_ptr<Backend>(std::make_unique<MemBackend>(url.text, capacity, env));
}

}  // namespace kvforge::store

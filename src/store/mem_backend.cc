// mem://: blobs in process memory under an LRU byte bound.
#include <mutex>
#include <unordered_map>

#include "store/backends.h"
#include "store/lru_index.h"

namespace kvforge::store {

namespace {

constexpr uint64_t kDefaultMemCapacity = 1ull << 30;

class MemBackend final : public Backend {
 public:
  MemBackend(std::string url, uint64_t capacity) : url_(std::move(url)), index_(capacity) {}

  std::string url() const override { return url_; }

  Status put(const ChunkKey& key, std::string_view bytes) override {
    std::lock_guard lock(mu_);
    if (index_.capacity() != 0 && bytes.size() > index_.capacity()) {
      return Status::ResourceExhausted("store: chunk " + key.hex() + " of " + std::to_string(bytes.size()) +
                                       " bytes exceeds the capacity of " + url_);
    }
    blobs_[key] = std::string(bytes);
    index_.insert(key, bytes.size(), wall_micros());
    for (const ChunkKey& victim : index_.victims(&key)) {
      blobs_.erase(victim);
      index_.erase(victim);
      index_.count_eviction();
    }
    return Status::OK();
  }

  Result<std::string> get(const ChunkKey& key) override { return read(key, /*count_use=*/true); }
  Result<std::string> peek(const ChunkKey& key) override { return read(key, /*count_use=*/false); }

  Result<bool> contains(const ChunkKey& key) override {
    std::lock_guard lock(mu_);
    return index_.contains(key);
  }

  Status remove(const ChunkKey& key) override {
    std::lock_guard lock(mu_);
    if (!index_.erase(key)) return not_found(key);
    blobs_.erase(key);
    return Status::OK();
  }

  Result<std::vector<EntryInfo>> list() override {
    std::lock_guard lock(mu_);
    return index_.list();
  }

  Result<BackendStats> stats() override {
    std::lock_guard lock(mu_);
    return index_.stats();
  }

 private:
  Result<std::string> read(const ChunkKey& key, bool count_use) {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(key);
    if (it == blobs_.end()) return not_found(key);
    if (count_use) index_.touch(key, wall_micros());
    return it->second;
  }

  Status not_found(const ChunkKey& key) const {
    return Status::NotFound("store: chunk " + key.hex() + " is not in " + url_);
  }

  const std::string url_;
  std::mutex mu_;
  LruIndex index_;
  std::unordered_map<ChunkKey, std::string> blobs_;
};

}  // namespace

Result<std::unique_ptr<Backend>> open_mem_backend(const StoreUrl& url) {
  KVF_RETURN_IF_ERROR(url.check_params({"capacity"}));
  if (!url.location.empty()) {
    return Status::InvalidArgument("store: bad URL '" + url.text + "': mem:// takes no location");
  }
  KVF_ASSIGN_OR_RETURN(const uint64_t capacity, url.bytes_param("capacity", kDefaultMemCapacity));
  return std::unique_ptr<Backend>(std::make_unique<MemBackend>(url.text, capacity));
}

}  // namespace kvforge::store

// file://DIR: one file per chunk, DIR/<32 hex digits>.kvc, written atomically
// (core::write_file_atomic: temp file, fsync, rename, directory fsync), so a
// chunk exists only once complete. The LRU order survives a restart in the
// files' modification times, which this backend sets itself, strictly
// increasing, because the kernel's timestamps are too coarse to order writes
// made in quick succession.
//
// Every file operation and the use-stamp clock go through a core::Env, so the
// crash tests can run it on one that drops unsynced data or fails fsync.
//
// The in-memory index is this process's view: a chunk another process writes
// is served by get() but counted (contains, list, capacity) only after a reopen.
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

#include "kvforge/core/file_io.h"
#include "store/backends.h"
#include "store/lru_backend.h"

namespace kvforge::store {

namespace {

constexpr std::string_view kChunkSuffix = ".kvc";

bool is_hex_key(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A temp file left by a process that died mid-write: never a chunk, safe to delete.
bool is_stale_temp(std::string_view name) {
  const std::optional<long> pid = core::atomic_temp_writer(name);
  if (!pid || !name.substr(0, name.rfind(".tmp.")).ends_with(kChunkSuffix)) return false;
  if (*pid == 0) return true;
  // A live writer (this process included: another backend on the same
  // directory) keeps its temp file.
  return ::kill(static_cast<pid_t>(*pid), 0) != 0 && errno == ESRCH;
}

class FileBackend final : public LruBackend {
 public:
  FileBackend(std::string url, std::string dir, uint64_t capacity, core::Env* env)
      : LruBackend(std::move(url), capacity, env), dir_(std::move(dir)) {}

  // Rebuilds the index from the directory and deletes stale temp files.
  Status load() {
    KVF_RETURN_IF_ERROR(env_->create_dir(dir_).with_context("store"));
    const auto names = env_->list_dir(dir_);
    if (!names.ok()) return names.status().with_context("store");
    struct Found {
      ChunkKey key;
      uint64_t bytes;
      int64_t micros;
    };
    std::vector<Found> found;
    for (const std::string& name : *names) {
      const std::string path = dir_ + "/" + name;
      if (is_stale_temp(name)) {
        (void)env_->remove_file(path);  // a leftover that stays is only disk space
        continue;
      }
      if (!name.ends_with(kChunkSuffix) || !is_hex_key(std::string_view(name).substr(0, 32)) ||
          name.size() != 32 + kChunkSuffix.size()) {
        continue;  // not ours
      }
      auto info = env_->file_info(path);
      if (!info.ok() || !info->regular) continue;
      found.push_back({*ChunkKey::from_hex(name.substr(0, 32)), info->size, info->mtime_micros});
    }
    std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.micros < b.micros; });
    for (const Found& f : found) {
      index_.insert(f.key, f.bytes, f.micros);
      last_stamp_ = std::max(last_stamp_, f.micros);
    }
    evict_over_capacity(nullptr);  // reopened with a smaller capacity
    return Status::OK();
  }

  Status put(const ChunkKey& key, std::string_view bytes) override {
    KVF_RETURN_IF_ERROR(check_fits(key, bytes.size()));
    std::lock_guard write_lock(write_mu_);
    const std::string path = path_of(key);
    KVF_RETURN_IF_ERROR(core::write_file_atomic(path, bytes, env_).with_context("store: cannot put chunk " + key.hex()));
    const int64_t stamp = stamp_use(path);
    {
      std::lock_guard lock(mu_);
      index_.insert(key, bytes.size(), stamp);
    }
    // The new chunk is on disk before older ones go: a crash leaves more, never less.
    evict_over_capacity(&key);
    return Status::OK();
  }

  Result<std::string> get(const ChunkKey& key) override { return read(key, /*count_use=*/true); }
  Result<std::string> peek(const ChunkKey& key) override { return read(key, /*count_use=*/false); }

  Status remove(const ChunkKey& key) override {
    std::lock_guard write_lock(write_mu_);
    const std::string path = path_of(key);
    const Status removed = env_->remove_file(path);
    {
      std::lock_guard lock(mu_);
      index_.erase(key);
    }
    if (removed.is_not_found()) return not_found(key);
    return removed.with_context("store");
  }

 private:
  std::string path_of(const ChunkKey& key) const { return dir_ + "/" + key.hex() + std::string(kChunkSuffix); }

  Result<std::string> read(const ChunkKey& key, bool count_use) {
    auto bytes = core::read_file(path_of(key), env_);
    if (!bytes.ok()) {
      if (!bytes.status().is_not_found()) return bytes.status().with_context("store: chunk " + key.hex());
      std::lock_guard lock(mu_);
      index_.erase(key);  // deleted behind our back
      return not_found(key);
    }
    if (count_use) {
      std::lock_guard lock(mu_);
      if (index_.contains(key)) index_.touch(key, stamp_use_locked(path_of(key)));
    }
    return bytes;
  }

  // Caller holds write_mu_ (or is load(), before anyone else can see this backend).
  void evict_over_capacity(const ChunkKey* keep) {
    std::vector<ChunkKey> victims;
    {
      std::lock_guard lock(mu_);
      victims = index_.victims(keep);
    }
    for (const ChunkKey& victim : victims) {
      (void)env_->remove_file(path_of(victim));  // already gone is as good as deleted
      std::lock_guard lock(mu_);
      index_.erase(victim);
      index_.count_eviction();
    }
  }

  // Sets the file's mtime to a fresh use stamp and returns it.
  int64_t stamp_use(const std::string& path) {
    std::lock_guard lock(mu_);
    return stamp_use_locked(path);
  }
  int64_t stamp_use_locked(const std::string& path) {
    last_stamp_ = std::max(env_->now_micros(), last_stamp_ + 1);
    (void)env_->set_mtime_micros(path, last_stamp_);  // a lost stamp only blurs the LRU order
    return last_stamp_;
  }

  const std::string dir_;
  std::mutex write_mu_;     // serializes changes to the directory (put, remove, eviction)
  int64_t last_stamp_ = 0;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<Backend>> open_file_backend(core::Spec& params, const StoreUrl& url, core::Env* env) {
  KVF_ASSIGN_OR_RETURN(const uint64_t capacity, params.get_bytes("capacity", 0));
  KVF_RETURN_IF_ERROR(params.finish());
  if (url.location.empty()) return params.error("no directory (file:///path/to/dir)");
  auto backend = std::make_unique<FileBackend>(url.text, url.location, capacity, env);
  KVF_RETURN_IF_ERROR(backend->load());
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace kvforge::store

// file://DIR: one file per chunk, DIR/<32 hex digits>.kvc, written atomically
// (core::write_file_atomic: temp file, fsync, rename, directory fsync), so a
// chunk exists only once complete. The LRU order survives a restart in the
// files' modification times, which this backend sets itself, strictly
// increasing, because the kernel's timestamps are too coarse to order writes
// made in quick succession.
//
// The in-memory index is this process's view: a chunk another process writes
// is served by get() but counted (contains, list, capacity) only after a reopen.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "kvforge/core/file_io.h"
#include "store/backends.h"
#include "store/lru_backend.h"

namespace kvforge::store {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kChunkSuffix = ".kvc";
constexpr std::string_view kTempMarker = ".tmp.";  // what write_file_atomic appends, then its pid

bool is_hex_key(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A temp file left by a process that died mid-write: never a chunk, safe to delete.
bool is_stale_temp(std::string_view name) {
  const size_t marker = name.find(kTempMarker);
  if (marker == std::string_view::npos || !name.substr(0, marker).ends_with(kChunkSuffix)) return false;
  const std::string pid_text(name.substr(marker + kTempMarker.size()));
  if (pid_text.empty() || !std::all_of(pid_text.begin(), pid_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return true;
  }
  // A live writer (this process included: another backend on the same
  // directory) keeps its temp file.
  const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

int64_t mtime_micros(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000;
}

class FileBackend final : public LruBackend {
 public:
  FileBackend(std::string url, std::string dir, uint64_t capacity)
      : LruBackend(std::move(url), capacity), dir_(std::move(dir)) {}

  // Rebuilds the index from the directory and deletes stale temp files.
  Status load() {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return Status::IOError("store: cannot create " + dir_ + ": " + ec.message());
    struct Found {
      ChunkKey key;
      uint64_t bytes;
      int64_t micros;
    };
    std::vector<Found> found;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (is_stale_temp(name)) {
        ::unlink(it->path().c_str());
        continue;
      }
      if (!name.ends_with(kChunkSuffix) || !is_hex_key(std::string_view(name).substr(0, 32)) ||
          name.size() != 32 + kChunkSuffix.size()) {
        continue;  // not ours
      }
      struct stat st;
      if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      found.push_back({*ChunkKey::from_hex(name.substr(0, 32)), static_cast<uint64_t>(st.st_size), mtime_micros(st)});
    }
    if (ec) return Status::IOError("store: cannot list " + dir_ + ": " + ec.message());
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
    KVF_RETURN_IF_ERROR(core::write_file_atomic(path, bytes));
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
    const int rc = ::unlink(path.c_str());
    const int err = errno;
    {
      std::lock_guard lock(mu_);
      index_.erase(key);
    }
    if (rc != 0 && err == ENOENT) return not_found(key);
    if (rc != 0) return Status::IOError("store: cannot remove " + path + ": " + std::strerror(err));
    return Status::OK();
  }

 private:
  std::string path_of(const ChunkKey& key) const { return dir_ + "/" + key.hex() + std::string(kChunkSuffix); }

  Result<std::string> read(const ChunkKey& key, bool count_use) {
    auto bytes = core::read_file(path_of(key));
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
      ::unlink(path_of(victim).c_str());  // already gone is as good as deleted
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
    last_stamp_ = std::max(wall_micros(), last_stamp_ + 1);
    const struct timespec times[2] = {{0, UTIME_OMIT},
                                      {static_cast<time_t>(last_stamp_ / 1000000),
                                       static_cast<long>(last_stamp_ % 1000000) * 1000}};
    ::utimensat(AT_FDCWD, path.c_str(), times, 0);  // a lost stamp only blurs the LRU order
    return last_stamp_;
  }

  const std::string dir_;
  std::mutex write_mu_;     // serializes changes to the directory (put, remove, eviction)
  int64_t last_stamp_ = 0;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<Backend>> open_file_backend(core::Spec& params, const StoreUrl& url) {
  KVF_ASSIGN_OR_RETURN(const uint64_t capacity, params.get_bytes("capacity", 0));
  KVF_RETURN_IF_ERROR(params.finish());
  if (url.location.empty()) return params.error("no directory (file:///path/to/dir)");
  auto backend = std::make_unique<FileBackend>(url.text, url.location, capacity);
  KVF_RETURN_IF_ERROR(backend->load());
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace kvforge::store

// The seam between kvforge and the operating system, as LevelDB's Env: file
// operations and the clock. Code that must survive a crash (atomic writes, the
// file store) takes an Env so that tests can hand it one that fails fsync,
// runs out of space, tears writes or forgets what was not synced
// (tests/support/fault_injection_env.h), without touching the code under test.
//
// Env::Default() is the POSIX one. Every error is a Status naming the path and
// the cause (ENOENT: NotFound; anything else: IOError with strerror's text).
// Thread-safety: an Env may be used from several threads; one WritableFile
// only from one at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/clock.h"
#include "kvforge/core/status.h"

namespace kvforge::core {

// A file being written from its start. Data is durable only after sync();
// destroying an unclosed file closes it and ignores errors.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of `data` or fails; a failure may leave a prefix written.
  virtual Status append(std::string_view data) = 0;
  virtual Status sync() = 0;
  virtual Status close() = 0;
};

struct FileInfo {
  uint64_t size = 0;
  int64_t mtime_micros = 0;
  bool regular = false;  // false for directories, devices, ...
};

class Env : public Clock {
 public:
  // The process-wide POSIX Env; never deleted.
  static Env* Default();

  // Creates `path` or truncates it.
  virtual Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) = 0;
  virtual Result<std::string> read_file(const std::string& path) = 0;
  // Atomically replaces `to` (rename(2)); durable once to's directory is synced.
  virtual Status rename_file(const std::string& from, const std::string& to) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  // Makes the directory's entries (creations, renames, removals) durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  // Creates `dir` and its missing parents; OK when it exists.
  virtual Status create_dir(const std::string& dir) = 0;
  // Names of the entries of `dir`, without "." and "..", in no order.
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;
  virtual Result<FileInfo> file_info(const std::string& path) = 0;
  virtual Status set_mtime_micros(const std::string& path, int64_t micros) = 0;
};

// Forwards every call to `target` (not owned), so a test Env overrides only
// what it changes.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override {
    return target_->new_writable_file(path);
  }
  Result<std::string> read_file(const std::string& path) override { return target_->read_file(path); }
  Status rename_file(const std::string& from, const std::string& to) override {
    return target_->rename_file(from, to);
  }
  Status remove_file(const std::string& path) override { return target_->remove_file(path); }
  Status sync_dir(const std::string& dir) override { return target_->sync_dir(dir); }
  Status create_dir(const std::string& dir) override { return target_->create_dir(dir); }
  Result<std::vector<std::string>> list_dir(const std::string& dir) override { return target_->list_dir(dir); }
  Result<FileInfo> file_info(const std::string& path) override { return target_->file_info(path); }
  Status set_mtime_micros(const std::string& path, int64_t micros) override {
    return target_->set_mtime_micros(path, micros);
  }

  int64_t now_micros() override { return target_->now_micros(); }
  double now_seconds() override { return target_->now_seconds(); }
  void sleep_until(double t) override { target_->sleep_until(t); }
  bool is_virtual() const override { return target_->is_virtual(); }

 private:
  Env* target_;
};

// The directory part of `path` ("." when it has none).
std::string dir_of(const std::string& path);

}  // namespace kvforge::core

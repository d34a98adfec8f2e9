// An Env for crash and failure tests, after LevelDB's fault_injection_test: it
// wraps a real Env and remembers what a power cut would keep. Per file, the
// bytes written since its last sync(); per directory, the entries created,
// renamed or removed since its last sync_dir(). simulate_crash() then does to
// the disk what the cut would: each file keeps only its synced prefix, and
// each unsynced entry reverts (a new name disappears, a replaced or removed
// one comes back with its durable content).
//
// It can also be told to fail: fsync, directory fsync or rename return
// IOError; writes past a byte budget return ENOSPC after writing what fits;
// and crash_after_bytes / crash_after_ops stop the "process" mid-write: the
// write that crosses the budget is torn (only its prefix reaches the file) and
// every later call fails until simulate_crash().
//
// Every injected failure says "injected" in its message. Thread-safe: one
// mutex, held across each call into the wrapped Env.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "kvforge/core/env.h"

namespace kvforge::testing {

class FaultInjectionEnv final : public core::EnvWrapper {
 public:
  explicit FaultInjectionEnv(core::Env* base = core::Env::Default()) : EnvWrapper(base) {}

  void set_fail_sync(bool fail);
  void set_fail_dir_sync(bool fail);
  void set_fail_rename(bool fail);
  // Appends fail with ENOSPC once `bytes` more have been written; -1: no limit.
  void set_space_left(int64_t bytes);
  // The append that crosses `bytes` more written bytes writes only up to them
  // and the Env crashes. -1: never.
  void crash_after_bytes(int64_t bytes);
  // The mutating call after `ops` more of them (create, append, sync, close,
  // rename, remove, directory sync) fails and the Env crashes; -1: never.
  void crash_after_ops(int64_t ops);
  bool crashed() const;
  // Mutating calls made so far (what crash_after_ops counts).
  int64_t ops() const;

  // Each tracked file keeps only what was synced; the Env forgets nothing
  // about directories. Faults stay set.
  core::Status drop_unsynced_data();
  // The power cut: unsynced data dropped, unsynced directory entries
  // reverted, every fault cleared and files opened before it dead. The Env
  // works again afterwards, as a restarted process would find the disk.
  core::Status simulate_crash();

  Result<std::unique_ptr<core::WritableFile>> new_writable_file(const std::string& path) override;
  Result<std::string> read_file(const std::string& path) override;
  core::Status rename_file(const std::string& from, const std::string& to) override;
  core::Status remove_file(const std::string& path) override;
  core::Status sync_dir(const std::string& dir) override;
  core::Status create_dir(const std::string& dir) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  Result<core::FileInfo> file_info(const std::string& path) override;
  core::Status set_mtime_micros(const std::string& path, int64_t micros) override;

  // A file written through this Env: its sizes, shared by the file's handle
  // and whatever name it has now.
  struct Node {
    uint64_t written = 0;
    uint64_t synced = 0;
  };

 private:
  friend class FaultFile;

  // OK, or the error of a call that must not happen (crashed) or that is the
  // crash (the op budget ran out). Caller holds mu_.
  core::Status begin_op(const std::string& what, const std::string& path);
  // Appends `data` to `file`, tearing it or failing for ENOSPC as set.
  core::Status append_locked(core::WritableFile& file, Node& node, const std::string& path, std::string_view data);
  // Before `path`'s entry changes: remembers its durable content (nullopt:
  // absent), unless an earlier unsynced change already did.
  void remember_entry(const std::string& path);
  core::Status truncate_to_synced();
  // Puts `content` at `path` with its old modification time, as a crash that
  // never saw the change would leave it (the file store orders by mtime).
  core::Status rewrite(const std::string& path, const std::string& content, int64_t mtime_micros);

  struct Durable {
    std::string content;
    int64_t mtime_micros;
  };

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Node>> nodes_;               // name -> file written here
  std::map<std::string, std::optional<Durable>> durable_entry_;  // unsynced entries' durable state
  bool fail_sync_ = false, fail_dir_sync_ = false, fail_rename_ = false;
  int64_t space_left_ = -1, crash_bytes_ = -1, crash_ops_ = -1, ops_ = 0;
  bool crashed_ = false;
  uint64_t generation_ = 0;  // bumped by simulate_crash(): older handles are dead
};

}  // namespace kvforge::testing

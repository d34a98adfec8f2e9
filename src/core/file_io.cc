#include "kvforge/core/file_io.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>

namespace kvforge::core {

namespace {
constexpr std::string_view kTempMarker = ".tmp.";

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Writes, syncs and closes `tmp`; the first error wins.
Status write_synced(Env* env, const std::string& tmp, std::string_view data) {
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env->new_writable_file(tmp));
  Status s = file->append(data);
  if (s.ok()) s = file->sync();
  const Status closed = file->close();
  return s.ok() ? closed : s;
}
}  // namespace

std::string atomic_temp_path(const std::string& path) {
  // A per-process counter, not the thread id: a thread writing one path twice
  // at once (two backends on one directory) still gets two names.
  static std::atomic<uint64_t> next{0};
  return path + std::string(kTempMarker) + std::to_string(::getpid()) + "." + std::to_string(next.fetch_add(1));
}

std::optional<long> atomic_temp_writer(std::string_view name) {
  const size_t marker = name.rfind(kTempMarker);
  if (marker == std::string_view::npos) return std::nullopt;
  std::string_view rest = name.substr(marker + kTempMarker.size());
  const size_t dot = rest.find('.');
  const std::string_view pid = rest.substr(0, dot);
  const bool counter_ok = dot == std::string_view::npos || all_digits(rest.substr(dot + 1));
  if (!all_digits(pid) || !counter_ok || pid.size() > 9) return 0;
  return std::stol(std::string(pid));
}

Status write_file_atomic(const std::string& path, std::string_view data, Env* env) {
  const std::string tmp = atomic_temp_path(path);
  Status s = write_synced(env, tmp, data);
  if (s.ok()) s = env->rename_file(tmp, path);
  if (!s.ok()) {
    (void)env->remove_file(tmp);  // may never have been created
    return s;
  }
  // The rename itself must survive a crash too.
  return env->sync_dir(dir_of(path));
}

Result<std::string> read_file(const std::string& path, Env* env) { return env->read_file(path); }

}  // namespace kvforge::core

// File helpers with crash-safe writes: data goes to a temporary file in the
// same directory, is fsynced, renamed over the target, and the directory is
// fsynced, so a reader sees the old file or the whole new one, never a torn one.
// Every operation goes through an Env (env.h), so tests can inject faults.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "kvforge/core/env.h"
#include "kvforge/core/status.h"

namespace kvforge::core {

// OK only once `data` is durable at `path`. On failure the temp file is
// removed and `path` holds its old content or, when the rename succeeded but
// the directory sync failed, the whole new one. Concurrent calls for one path
// (threads, backends, processes) each use their own temp file: `path` ends up
// holding exactly one caller's bytes.
Status write_file_atomic(const std::string& path, std::string_view data, Env* env = Env::Default());
// NotFound when missing; IOError on read errors. Both name the path.
Result<std::string> read_file(const std::string& path, Env* env = Env::Default());

// The temp file name of one write_file_atomic call: "<path>.tmp.<pid>.<n>",
// n counting this process's calls, so no two writers ever share one.
std::string atomic_temp_path(const std::string& path);
// For a file name holding ".tmp." (a temp of the form above, or the older
// "<path>.tmp.<pid>"): the writer's pid, or 0 when what follows is not a pid.
// nullopt for a name without the marker.
std::optional<long> atomic_temp_writer(std::string_view name);

}  // namespace kvforge::core

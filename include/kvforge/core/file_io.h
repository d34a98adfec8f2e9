// File helpers with crash-safe writes: data goes to a temporary file in the
// same directory, is fsynced, renamed over the target, and the directory is
// fsynced, so a reader sees the old file or the whole new one, never a torn one.
#pragma once

#include <string>
#include <string_view>

#include "kvforge/core/status.h"

namespace kvforge::core {

Status write_file_atomic(const std::string& path, std::string_view data);
// NotFound when missing; IOError on read errors. Both name the path.
Result<std::string> read_file(const std::string& path);

}  // namespace kvforge::core

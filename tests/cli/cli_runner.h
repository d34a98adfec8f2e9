// Runs the kvforge binary the way a user does and captures what it says.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "shared_paths.h"

namespace kvforge::testing {

struct CliRun {
  int code;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline CliRun run(const std::string& args) {
  const auto dir = std::filesystem::temp_directory_path() / ("kvf_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string err_path = (dir / "stderr").string();
  const std::string cmd = std::string(KVF_CLI_PATH) + " " + args + " 2>" + err_path;
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, kvforge::testing::slurp(err_path)};
}


inline std::string llama2c_flags() {
  return "--model " + model_dir() + "stories260K.bin --tokenizer " + model_dir() + "tok512.bin";
}

}  // namespace kvforge::testing

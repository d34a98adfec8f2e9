// A `kvforge store serve` child process for CLI tests: started with arguments, its
// stderr read until a line appears, stopped by a signal (SIGKILL included).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::testing {

// A `kvforge store serve` child with its stderr on a pipe.
struct ServeProcess {
  pid_t pid = -1;
  int err_fd = -1;
  std::string err;

  explicit ServeProcess(const std::vector<std::string>& args) {
    int fds[2];
    KVF_CHECK(::pipe(fds) == 0);
    pid = ::fork();
    KVF_CHECK(pid >= 0);
    if (pid == 0) {
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      std::vector<std::string> all = {KVF_CLI_PATH, "store", "serve"};
      all.insert(all.end(), args.begin(), args.end());
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(KVF_CLI_PATH, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    err_fd = fds[0];
  }

  // Reads stderr until `needle` appears or `seconds` pass.
  bool wait_for(const std::string& needle, double seconds = 20) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (err.find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > end) return false;
      pollfd p{err_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(err_fd, buf, sizeof buf);
      if (n <= 0) return err.find(needle) != std::string::npos;
      err.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  // The port from "… at http://127.0.0.1:PORT".
  int port() const {
    const size_t at = err.find("http://127.0.0.1:");
    if (at == std::string::npos) return -1;
    return std::stoi(err.substr(at + 17));
  }

  int stop(int sig) {
    ::kill(pid, sig);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    wait_for("stopped", 5);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  ~ServeProcess() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (err_fd >= 0) ::close(err_fd);
  }
};

}  // namespace kvforge::testing

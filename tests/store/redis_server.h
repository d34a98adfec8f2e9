// A real redis-server (Debian's package, installed by scripts/setup) on a free
// loopback port for the duration of a test: no persistence, its output
// discarded. Tests of the redis:// backend run against it, never a mock.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace kvforge::testing {

class RedisServer {
 public:
  // Starts on a free port, or on `port` (a restart on the same address).
  explicit RedisServer(int port = 0) : port_(port ? port : free_port()) {
    pid_ = fork();
    if (pid_ == 0) {
      const int null_fd = open("/dev/null", O_WRONLY);
      dup2(null_fd, 1);
      dup2(null_fd, 2);
      const std::string p = std::to_string(port_);
      execlp("redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", "/tmp", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (accepts()) return;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        throw std::runtime_error("redis-server exited at start (is it installed? scripts/setup installs it)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    stop();
    throw std::runtime_error("redis-server did not accept connections on port " + std::to_string(port_));
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& prefix, const std::string& params = "") const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "?prefix=" + prefix + (params.empty() ? "" : "&" + params);
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      close(fd);
      throw std::runtime_error("no free loopback port");
    }
    close(fd);
    return ntohs(a.sin_port);
  }
  bool accepts() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port_));
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(fd);
    return ok;
  }

  int port_;
  pid_t pid_ = -1;
};

}  // namespace kvforge::testing

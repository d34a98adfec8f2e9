// One client connection as the gate and its workers share it, and the
// httplib::Stream a worker serves it through. The stream reads the bytes the
// gate already buffered (the request head) before the socket, and bounds the
// rest by a total deadline and a byte budget, not only by idle time: a client
// that drips bytes cannot hold a worker longer than the deadline.
#pragma once
#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace kvforge::server {

using GateClock = std::chrono::steady_clock;

struct Connection {
  explicit Connection(int fd) : fd(fd) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd;
  std::string buffer;     // received and not yet consumed
  size_t read_pos = 0;    // consumed prefix of buffer
  GateClock::time_point deadline;  // the gate's: head complete by then, or closed
  bool head_started = false;       // a byte of the current head arrived
  size_t served = 0;               // requests answered on this connection
  // Set while serving when the request's body may be left unread (refused
  // before reading it): the connection cannot carry another request.
  bool close_after = false;
  // Bytes after the head that one request may send (chunk framing included).
  uint64_t request_byte_budget = 0;
  bool body_timed_out = false;
  bool over_budget = false;
  // Answered and shut for writing, its unread input discarded until the client
  // stops or the linger deadline passes: closing with unread input would send
  // a reset that can destroy the answer before the client reads it.
  bool lingering = false;
  uint64_t discarded = 0;

  // Drops the consumed prefix (between requests).
  void compact();
};

class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(Connection& c, int io_timeout_ms, GateClock::time_point body_deadline)
      : c_(c), io_timeout_ms_(io_timeout_ms), body_deadline_(body_deadline) {}

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return c_.fd; }

 private:
  // Milliseconds to wait for the next read: the idle timeout, cut to the deadline.
  int read_wait_ms() const;

  Connection& c_;
  int io_timeout_ms_;
  GateClock::time_point body_deadline_;
  uint64_t socket_bytes_ = 0;  // read from the socket during this request
};

}  // namespace kvforge::server

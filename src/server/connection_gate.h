// The server's front: it owns the listening socket and every connection, and
// reads each request head itself (one poll thread, non-blocking sockets) so that
// a worker is only spent on a request whose head has fully arrived. Slow or idle
// clients therefore cost a buffer, not a worker, and are closed when their head
// misses its deadline, which counts total time, not time between bytes.
//
// - At most max_connections are open; further clients wait in the kernel's
//   listen backlog (the queue) until one closes.
// - Head deadline: a new connection's head must be complete header_timeout_ms
//   after accept; a kept-alive connection may idle idle_timeout_ms, then its
//   next head must be complete header_timeout_ms after its first byte.
// - Body deadline: a request's body must arrive within body_timeout_ms of its
//   head (enforced by ConnectionStream), and within request_byte_budget bytes.
// - A malformed head (a header line without a colon, over 64 KiB) is answered
//   400 or 431 by the gate and closed.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kvforge/core/status.h"
#include "server/connection.h"
#include "server/metrics.h"

namespace kvforge::server {

struct GateOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  int workers = 64;
  int max_connections = 512;
  int header_timeout_ms = 10000;
  int body_timeout_ms = 60000;
  int idle_timeout_ms = 5000;
  int io_timeout_ms = 10000;  // one read or write without progress
  uint64_t request_byte_budget = uint64_t{1} << 30;
  size_t max_requests_per_connection = 1000;
  // A refused request's unread input is discarded for at most this long and this
  // many bytes, then the connection closes regardless.
  int linger_ms = 2000;
  uint64_t linger_bytes = uint64_t{4} << 20;
};

// Serves one request from the stream (httplib's process_request): false when
// the connection must close; sets `closed` when the client asked to close.
using ServeFn = std::function<bool(ConnectionStream& stream, bool close_connection, bool& closed)>;

class ConnectionGate {
 public:
  // Binds and starts the poll thread and workers. IOError naming host:port.
  static Result<std::unique_ptr<ConnectionGate>> start(GateOptions options, ServeFn serve, ConnectionCounters* counters);
  ~ConnectionGate();  // stop()

  int port() const { return port_; }
  int listen_fd() const { return listen_fd_; }
  // Closes the listener and every waiting connection, lets requests in flight finish, joins.
  void stop();
  // The connection the calling worker thread is serving; null elsewhere.
  static Connection* current();

 private:
  ConnectionGate(GateOptions options, ServeFn serve, ConnectionCounters* counters);
  void run_poller();
  void run_worker();
  void accept_new();
  // Reads what arrived on a waiting connection; false when it was closed.
  bool read_head(std::unique_ptr<Connection>& c);
  // A complete head in c's buffer: refused by the gate or queued for a worker.
  void dispatch(std::unique_ptr<Connection> c);
  void serve(std::unique_ptr<Connection> c);
  void park(std::unique_ptr<Connection> c);  // back to the poller between requests
  void linger(std::unique_ptr<Connection> c);  // to the poller, to discard and close
  // Discards what arrived on a lingering connection; false when it was closed.
  bool discard_input(std::unique_ptr<Connection>& c);
  void close(std::unique_ptr<Connection> c);
  void wake();

  GateOptions options_;
  ServeFn serve_;
  ConnectionCounters* counters_;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread poller_;
  std::vector<std::thread> workers_;
  std::vector<std::unique_ptr<Connection>> waiting_;  // poller-owned: reading a head
  std::mutex mu_;
  std::condition_variable ready_cv_;
  std::deque<std::unique_ptr<Connection>> ready_;     // complete head, for a worker
  std::vector<std::unique_ptr<Connection>> parked_;  // from workers, for the poller
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace kvforge::server

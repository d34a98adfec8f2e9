// `kvforge serve`: a chunk store (store::Backend) over HTTP/1.1 (docs/SERVER.md).
//
//   POST /v1/lookup                {"keys":[hex,...]} -> {"prefix":n}
//   GET  /v1/chunk/<key>?level=L   one level's codec frame
//   GET  /v1/chunk/<key>/tokens    the chunk's token ids (JSON)
//   GET  /v1/chunk/<key>           the whole container
//   PUT  /v1/chunk/<key>           store a container (verified first)
//   GET  /metrics                  Prometheus text
//
// Every chunk read is verified (store::get_chunk); a damaged chunk is removed
// from the backend (so a re-put heals it), counted, and answered 500 with a
// JSON error naming the key. Errors are JSON {"error", "code", "key"?}.
//
// Thread-safety: a Server runs its own listener and worker threads; its
// methods may be called from any thread. The backend must be thread-safe
// (every store::Backend is).
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "kvforge/core/status.h"
#include "kvforge/server/throttle.h"
#include "kvforge/store/backend.h"

namespace kvforge::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: an ephemeral port (Server::port() tells which)
  // Non-empty: every route, /metrics included, needs `Authorization: Bearer <token>`.
  std::string token;
  // Non-empty: reads (GET, lookup, /metrics) need this token (or the write token,
  // or `token`); writes (PUT) need the write token (or `token`). Checked from the
  // request head, before any body byte is read.
  std::string read_token;
  std::string write_token;
  // Non-empty: the store secret (store/chunk_signer.h). PUTs of unsigned or
  // mis-signed chunks are refused (400), stored ones that fail the check are
  // treated as damaged, and level GETs carry the level's MAC (X-Kvf-Mac).
  std::string secret;
  // Largest request body accepted, on any transfer encoding (else 413, at once
  // when Content-Length says so). Default 256 MiB.
  size_t max_body_bytes = size_t{256} << 20;
  // One socket read or write without progress.
  int timeout_ms = 10000;
  // A request head must be complete this long after the connection opened (or
  // after its first byte, on a kept-alive connection): total time, not idle time.
  int header_timeout_ms = 10000;
  // A request body must be complete this long after its head.
  int body_timeout_ms = 60000;
  // A kept-alive connection may wait this long for its next request.
  int idle_timeout_ms = 5000;
  // Connections open at once (reading heads, queued or served); more wait in
  // the listen backlog.
  int max_connections = 512;
  // Worker threads. Heads are read by one poll thread, so a worker is only
  // taken by a request whose head has fully arrived.
  int threads = 64;
  // Link emulation for chunk GETs; empty: unthrottled.
  BandwidthFn bandwidth;
  // Chunks kept parsed after their first verified read, for level GETs (0: none).
  uint64_t verified_cache_bytes = uint64_t{512} << 20;
};

class Server {
 public:
  // Binds and starts serving in background threads. IOError naming host:port
  // when the address cannot be bound.
  static Result<std::unique_ptr<Server>> start(std::shared_ptr<store::Backend> backend, ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  // "http://host:port".
  std::string url() const;
  // Replaces the link emulation (time 0 is now); empty: unthrottled.
  void set_bandwidth(BandwidthFn fn);
  // The /metrics text.
  std::string metrics_text() const;
  // Stops accepting, lets requests in flight finish, joins the threads. Idempotent.
  void stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvforge::server

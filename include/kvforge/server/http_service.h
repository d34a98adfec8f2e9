// An HTTP/1.1 service behind the connection gate (heads read by a poll thread
// under deadlines, a connection cap, a byte budget per request; docs/SERVER.md),
// for routes other than the chunk store's: `kvforge serve`'s OpenAI API.
//
// The service times each request from routing to its response, counts it by
// route and status, and refuses a request whose head `admission` rejects
// before any body byte is read (before "100 Continue" too).
#pragma once
#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kvforge/core/status.h"

namespace kvforge::server {

struct HttpServiceOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: an ephemeral port
  int threads = 64;
  int max_connections = 512;
  int timeout_ms = 10000;  // one socket read or write without progress
  int header_timeout_ms = 10000;
  int body_timeout_ms = 60000;
  int idle_timeout_ms = 5000;
  size_t max_body_bytes = size_t{16} << 20;
};

struct HttpServiceHooks {
  // Installs the routes and the error handler.
  std::function<void(httplib::Server&)> install;
  // From the head alone: 0 to go on, or the status `res` was filled with.
  std::function<int(const httplib::Request&, httplib::Response&)> admission;
  // The metrics label of a request ("other" when empty or unset).
  std::function<const char*(const httplib::Request&)> route_label;
};

class HttpService {
 public:
  // Binds and serves in background threads. IOError naming host:port.
  static Result<std::unique_ptr<HttpService>> start(const HttpServiceOptions& options, HttpServiceHooks hooks);
  ~HttpService();  // stop()
  HttpService(const HttpService&) = delete;
  HttpService& operator=(const HttpService&) = delete;

  int port() const;
  std::string url() const;
  // Requests by route and status, their latency, connections (kvf_*).
  std::string metrics_text() const;
  // Stops accepting, cuts streamed bodies short, joins. Idempotent.
  void stop();

  // In a handler: the connection closes after this response.
  static void close_after_response();
  // In a handler: the client has closed its side of the connection (it gave up).
  static bool peer_closed();

  struct Impl;

 private:
  explicit HttpService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The declared Content-Length: 0 when absent, nullopt when not a number.
std::optional<uint64_t> declared_content_length(const httplib::Request& req);
// `Authorization: Bearer <token>` names `token` (compared in constant time).
bool bearer_matches(const httplib::Request& req, std::string_view token);
// Reads a body of at most `max_bytes` content bytes on any transfer encoding:
// ResourceExhausted over it, IOError("... timed out") past the body deadline,
// InvalidArgument when incomplete.
Status read_limited_body(const httplib::ContentReader& reader, size_t max_bytes, std::string* body);

}  // namespace kvforge::server

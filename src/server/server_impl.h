// Internal to the server: its state and the pieces its files share.
#pragma once
#include <httplib.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "kvforge/server/server.h"
#include "kvforge/store/chunk_signer.h"
#include "server/connection_gate.h"
#include "server/metrics.h"
#include "server/verified_cache.h"

namespace kvforge::server {

// httplib's request processing (head, routing, body, response) run on a stream
// the gate hands over; process_request is protected, hence the subclass.
class RoutedServer : public httplib::Server {
 public:
  bool serve_one(httplib::Stream& stream, bool close_connection, bool& closed) {
    return process_request(stream, close_connection, closed, nullptr);
  }
  // httplib streams a response body (content providers) only while its own
  // listening socket is valid; the gate's listens instead, so lend it that one.
  // Cleared at stop, which also cuts bodies being streamed short.
  void set_serving(int listen_fd) { svr_sock_ = listen_fd; }
};

void set_json_error(httplib::Response& res, int status, std::string_view code, const std::string& message,
                    const std::string& key = {});
// The HTTP status and error code for a Status from the store.
std::pair<int, std::string_view> http_error(const Status& s);

struct Server::Impl {
  std::shared_ptr<store::Backend> backend;
  ServerOptions options;
  RoutedServer http;
  Metrics metrics;
  Link link;
  std::unique_ptr<VerifiedCache> verified;  // sized from options at start()
  std::unique_ptr<ConnectionGate> gate;
  std::optional<store::ChunkSigner> signer;  // from options.secret; set: only signed chunks in or out

  // Admission and bodies (server.cc).
  bool authorized(const httplib::Request& req) const;
  int admission(const httplib::Request& req, httplib::Response& res) const;
  bool read_body(const httplib::ContentReader& reader, std::string* body, httplib::Response& res);
  httplib::Server::HandlerWithContentReader with_body(
      std::function<void(const httplib::Request&, const std::string&, httplib::Response&)> fn);
  void install();
  GateOptions gate_options() const;

  // Chunk routes (chunk_routes.cc).
  void send_body(httplib::Response& res, std::string payload, const char* content_type);
  std::optional<std::pair<std::string, store::StoredChunk>> read_chunk(const std::string& hex, httplib::Response& res);
  static void chunk_headers(httplib::Response& res, const store::StoredChunk& c);
  void get_chunk(const httplib::Request& req, httplib::Response& res);
  void get_tokens(const httplib::Request& req, httplib::Response& res);
  void put_chunk(const httplib::Request& req, const std::string& body, httplib::Response& res);
  void lookup(const std::string& body, httplib::Response& res);
};

}  // namespace kvforge::server

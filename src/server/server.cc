#include "kvforge/server/server.h"

#include <httplib.h>

#include <chrono>
#include <optional>

#include "kvforge/server/http_service.h"
#include "server/connection_gate.h"
#include "server/http_common.h"
#include "server/server_impl.h"

namespace kvforge::server {

namespace {

using Clock = std::chrono::steady_clock;

// Per worker thread: the route label of the current request and when routing
// began (httplib runs a request's routing, handler, body writing and logger on
// one thread).
thread_local const char* t_route = nullptr;
thread_local Clock::time_point t_start;
thread_local bool t_timed = false;

// The metrics label of a request, from its method and path alone (so requests
// refused before routing, 413 included, are counted under their route).
const char* route_label(const httplib::Request& req) {
  constexpr std::string_view kChunk = "/v1/chunk/";
  const std::string_view path = req.path;
  if (req.method == "POST" && path == "/v1/lookup") return "lookup";
  if (req.method == "GET" && path == "/metrics") return "metrics";
  if (path.substr(0, kChunk.size()) == kChunk) {
    if (req.method == "PUT") return "chunk_put";
    if (req.method == "GET") return path.ends_with("/tokens") ? "chunk_tokens" : "chunk_get";
  }
  return "other";
}

std::optional<uint64_t> content_length(const httplib::Request& req) { return declared_content_length(req); }

bool has_body(const httplib::Request& req) {
  return req.has_header("Transfer-Encoding") || content_length(req).value_or(1) > 0;
}

// The connection cannot carry another request: its body may be left unread.
void close_after_response() { HttpService::close_after_response(); }

// Every error without a body of its own (404 for unknown routes, 400 from the
// HTTP parser, ...) gets a JSON one.
httplib::Server::HandlerResponse json_error_body(const httplib::Request& req, httplib::Response& res) {
  if (!res.body.empty() || res.content_length_ > 0) return httplib::Server::HandlerResponse::Unhandled;
  switch (res.status) {
    case 404: set_json_error(res, 404, kCodeNotFound, "no route " + req.method + " " + req.path); break;
    case 413: set_json_error(res, 413, kCodeResourceExhausted, "request body too large"); break;
    default:
      set_json_error(res, res.status, res.status < 500 ? kCodeInvalidArgument : kCodeInternal, "bad request");
      break;
  }
  return httplib::Server::HandlerResponse::Handled;
}

void json_exception_body(const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
  std::string what = "unknown exception";
  try {
    if (ep) std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  set_json_error(res, 500, kCodeInternal, "internal error: " + what);
}

}  // namespace

// The tokens that open a request: writes (PUT) take the write token (or the
// token for both); reads take any of them. No token configured: open.
bool Server::Impl::authorized(const httplib::Request& req) const {
  const bool write = req.method == "PUT";
  std::vector<std::string_view> accepted;
  for (const std::string* t : {&options.token, &options.write_token}) {
    if (!t->empty()) accepted.push_back(*t);
  }
  if (!write && !options.read_token.empty()) accepted.push_back(options.read_token);
  const bool guarded = !options.token.empty() || !(write ? options.write_token : options.read_token).empty();
  if (!guarded) return true;
  bool ok = false;
  for (const std::string_view t : accepted) ok |= bearer_matches(req, t);
  return ok;
}

// Decided from the head alone, before any body byte is read: 0 to go on, or
// the status the request is refused with (its body then stays unread).
int Server::Impl::admission(const httplib::Request& req, httplib::Response& res) const {
  if (!authorized(req)) {
    res.set_header("WWW-Authenticate", "Bearer");
    set_json_error(res, 401, kCodeUnauthorized, "missing or wrong bearer token");
    return 401;
  }
  const std::optional<uint64_t> length = content_length(req);
  if (!length) {
    set_json_error(res, 400, kCodeInvalidArgument, "Content-Length is not a number");
    return 400;
  }
  if (*length > options.max_body_bytes) {
    set_json_error(res, 413, kCodeResourceExhausted,
                   "request body of " + req.get_header_value("Content-Length") + " bytes is over --max-body " +
                       std::to_string(options.max_body_bytes));
    return 413;
  }
  if (has_body(req) && req.is_multipart_form_data()) {
    set_json_error(res, 415, kCodeInvalidArgument,
                   "send the container as the raw body (curl --data-binary @file), not as a multipart form");
    return 415;
  }
  if (has_body(req) && std::string_view(route_label(req)) == "other") {
    set_json_error(res, 404, kCodeNotFound, "no route " + req.method + " " + req.path);
    return 404;
  }
  return 0;
}

// Reads the body through `reader`, at most --max-body bytes of content on any
// transfer encoding; on failure fills `res` (413, 408 or 400) and returns false.
bool Server::Impl::read_body(const httplib::ContentReader& reader, std::string* body, httplib::Response& res) {
  const Status s = read_limited_body(reader, options.max_body_bytes, body);
  metrics.add_bytes_received(body->size());
  if (s.ok()) return true;
  if (s.code() == StatusCode::kResourceExhausted) {
    set_json_error(res, 413, kCodeResourceExhausted,
                   "request body over --max-body " + std::to_string(options.max_body_bytes) + " bytes");
  } else if (s.is_io_error()) {
    set_json_error(res, 408, kCodeInvalidArgument, "request body not complete within --body-timeout-ms");
  } else {
    set_json_error(res, 400, kCodeInvalidArgument, "request body incomplete or malformed");
  }
  return false;
}

// A route that takes a body: read within the limits, then `fn`.
httplib::Server::HandlerWithContentReader Server::Impl::with_body(
    std::function<void(const httplib::Request&, const std::string&, httplib::Response&)> fn) {
  return [this, fn = std::move(fn)](const httplib::Request& req, httplib::Response& res,
                                    const httplib::ContentReader& reader) {
    std::string body;
    if (read_body(reader, &body, res)) fn(req, body, res);
  };
}

void Server::Impl::install() {
  http.set_payload_max_length(options.max_body_bytes);
  // Refusals (401, 413, ...) come from the head alone: before "100 Continue"
  // invites a body, and before routing would read one.
  http.set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
    const int refused = admission(req, res);
    if (refused != 0) close_after_response();
    return refused != 0 ? refused : 100;
  });
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_route = route_label(req);
    t_start = Clock::now();
    t_timed = true;
    if (admission(req, res) == 0) return httplib::Server::HandlerResponse::Unhandled;
    if (has_body(req)) close_after_response();
    return httplib::Server::HandlerResponse::Handled;
  });
  // Counted before the response is written (post-routing, not the logger), so a
  // client that reads /metrics after its answer sees its own request counted.
  http.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    const double seconds = t_timed ? std::chrono::duration<double>(Clock::now() - t_start).count() : -1.0;
    metrics.record_request(t_route ? t_route : "other", res.status, seconds);
    t_route = nullptr;
    t_timed = false;
  });
  http.set_error_handler(httplib::Server::HandlerWithResponse(json_error_body));
  http.set_exception_handler(json_exception_body);
  http.Post("/v1/lookup", with_body([this](const auto&, const auto& body, auto& res) { lookup(body, res); }));
  http.Get(R"(/v1/chunk/([^/]*)/tokens)", [this](const auto& req, auto& res) { get_tokens(req, res); });
  http.Get(R"(/v1/chunk/([^/]*))", [this](const auto& req, auto& res) { get_chunk(req, res); });
  http.Put(R"(/v1/chunk/([^/]*))", with_body([this](const auto& req, const auto& body, auto& res) {
             put_chunk(req, body, res);
           }));
  http.Get("/metrics", [this](const auto&, auto& res) {
    res.set_content(metrics.text(), "text/plain; version=0.0.4");
  });
}

GateOptions Server::Impl::gate_options() const {
  GateOptions g;
  g.host = options.host;
  g.port = options.port;
  g.workers = options.threads;
  g.max_connections = options.max_connections;
  g.header_timeout_ms = options.header_timeout_ms;
  g.body_timeout_ms = options.body_timeout_ms;
  g.idle_timeout_ms = options.idle_timeout_ms;
  g.io_timeout_ms = options.timeout_ms;
  // Content plus chunked framing: a body of 1-byte chunks costs 6 bytes a byte.
  g.request_byte_budget = options.max_body_bytes * 8 + (uint64_t{1} << 20);
  return g;
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::start(std::shared_ptr<store::Backend> backend, ServerOptions options) {
  if (!backend) return Status::InvalidArgument("serve: no backend");
  auto impl = std::make_unique<Impl>();
  impl->backend = std::move(backend);
  impl->options = std::move(options);
  impl->link.set(impl->options.bandwidth);
  impl->verified = std::make_unique<VerifiedCache>(impl->options.verified_cache_bytes);
  if (!impl->options.secret.empty()) {
    KVF_ASSIGN_OR_RETURN(store::ChunkSigner signer, store::ChunkSigner::make(impl->options.secret));
    impl->signer = std::move(signer);
  }
  impl->install();
  Impl* raw = impl.get();
  auto gate = ConnectionGate::start(
      impl->gate_options(),
      [raw](ConnectionStream& stream, bool close_connection, bool& closed) {
        return raw->http.serve_one(stream, close_connection, closed);
      },
      &impl->metrics.connections());
  if (!gate.ok()) return gate.status();
  impl->gate = std::move(*gate);
  impl->http.set_serving(impl->gate->listen_fd());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->gate->port(); }

std::string Server::url() const { return "http://" + impl_->options.host + ":" + std::to_string(port()); }

void Server::set_bandwidth(BandwidthFn fn) { impl_->link.set(std::move(fn)); }

std::string Server::metrics_text() const { return impl_->metrics.text(); }

void Server::stop() {
  impl_->http.set_serving(-1);
  impl_->gate->stop();
}

}  // namespace kvforge::server

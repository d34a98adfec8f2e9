#include "kvforge/server/http_service.h"

#include <poll.h>

#include <charconv>
#include <chrono>

#include "server/connection_gate.h"
#include "server/metrics.h"
#include "server/server_impl.h"

namespace kvforge::server {

namespace {

using Clock = std::chrono::steady_clock;
thread_local const char* t_label = nullptr;
thread_local Clock::time_point t_begin;

}  // namespace

struct HttpService::Impl {
  HttpServiceOptions options;
  HttpServiceHooks hooks;
  RoutedServer http;
  Metrics metrics;
  std::unique_ptr<ConnectionGate> gate;

  const char* label(const httplib::Request& req) const {
    const char* l = hooks.route_label ? hooks.route_label(req) : nullptr;
    return l ? l : "other";
  }
  int admit(const httplib::Request& req, httplib::Response& res) const {
    return hooks.admission ? hooks.admission(req, res) : 0;
  }
  void install();
};

void HttpService::Impl::install() {
  http.set_payload_max_length(options.max_body_bytes);
  http.set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
    const int refused = admit(req, res);
    if (refused != 0) close_after_response();
    return refused != 0 ? refused : 100;
  });
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_label = label(req);
    t_begin = Clock::now();
    if (admit(req, res) == 0) return httplib::Server::HandlerResponse::Unhandled;
    close_after_response();  // its body, if any, stays unread
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const double seconds = t_label ? std::chrono::duration<double>(Clock::now() - t_begin).count() : -1.0;
    metrics.record_request(t_label ? t_label : label(req), res.status, seconds);
    t_label = nullptr;
  });
  if (hooks.install) hooks.install(http);
}

HttpService::HttpService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpService::~HttpService() { stop(); }

Result<std::unique_ptr<HttpService>> HttpService::start(const HttpServiceOptions& options, HttpServiceHooks hooks) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->hooks = std::move(hooks);
  impl->install();
  GateOptions g;
  g.host = options.host;
  g.port = options.port;
  g.workers = options.threads;
  g.max_connections = options.max_connections;
  g.header_timeout_ms = options.header_timeout_ms;
  g.body_timeout_ms = options.body_timeout_ms;
  g.idle_timeout_ms = options.idle_timeout_ms;
  g.io_timeout_ms = options.timeout_ms;
  g.request_byte_budget = options.max_body_bytes * 8 + (uint64_t{1} << 20);
  Impl* raw = impl.get();
  KVF_ASSIGN_OR_RETURN(impl->gate, ConnectionGate::start(
                                       g,
                                       [raw](ConnectionStream& stream, bool close_connection, bool& closed) {
                                         return raw->http.serve_one(stream, close_connection, closed);
                                       },
                                       &impl->metrics.connections()));
  impl->http.set_serving(impl->gate->listen_fd());
  return std::unique_ptr<HttpService>(new HttpService(std::move(impl)));
}

int HttpService::port() const { return impl_->gate->port(); }

std::string HttpService::url() const { return "http://" + impl_->options.host + ":" + std::to_string(port()); }

std::string HttpService::metrics_text() const { return impl_->metrics.text(); }

void HttpService::stop() {
  impl_->http.set_serving(-1);
  impl_->gate->stop();
}

void HttpService::close_after_response() {
  if (Connection* c = ConnectionGate::current()) c->close_after = true;
}

bool HttpService::peer_closed() {
  const Connection* c = ConnectionGate::current();
  if (c == nullptr) return false;
  pollfd p{c->fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

std::optional<uint64_t> declared_content_length(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) return 0;
  const std::string text = req.get_header_value("Content-Length");
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

bool bearer_matches(const httplib::Request& req, std::string_view token) {
  const std::string h = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (h.size() <= kBearer.size() || h.compare(0, kBearer.size(), kBearer) != 0) return false;
  const std::string_view given = std::string_view(h).substr(kBearer.size());
  if (given.size() != token.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  return diff == 0;
}

Status read_limited_body(const httplib::ContentReader& reader, size_t max_bytes, std::string* body) {
  bool over = false;
  const bool ok = reader([&](const char* data, size_t n) {
    if (body->size() + n > max_bytes) {
      over = true;
      return false;
    }
    body->append(data, n);
    return true;
  });
  if (ok && !over) return Status::OK();
  HttpService::close_after_response();
  const Connection* c = ConnectionGate::current();
  if (over || (c && c->over_budget)) {
    return Status::ResourceExhausted("request body over the limit of " + std::to_string(max_bytes) + " bytes");
  }
  if (c && c->body_timed_out) return Status::IOError("request body not complete within --body-timeout-ms: timed out");
  return Status::InvalidArgument("request body incomplete or malformed");
}

}  // namespace kvforge::server

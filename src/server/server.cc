#include "kvforge/server/server.h"

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "kvforge/codec/codec.h"
#include "kvforge/store/chunk_io.h"
#include "server/http_common.h"
#include "server/metrics.h"
#include "server/verified_cache.h"

namespace kvforge::server {

namespace {

using Clock = std::chrono::steady_clock;

// Per worker thread: the route label of the current request and when routing
// began (httplib runs a request's routing, handler, body writing and logger on
// one thread).
thread_local const char* t_route = nullptr;
thread_local Clock::time_point t_start;
thread_local bool t_timed = false;

void set_json_error(httplib::Response& res, int status, std::string_view code, const std::string& message,
                    const std::string& key = {}) {
  nlohmann::json j = {{"error", message}, {"code", code}};
  if (!key.empty()) j["key"] = key;
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

// The HTTP status and error code for a Status from the store.
std::pair<int, std::string_view> http_error(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound: return {404, kCodeNotFound};
    case StatusCode::kCorruption: return {500, kCodeCorruption};
    case StatusCode::kInvalidArgument: return {400, kCodeInvalidArgument};
    case StatusCode::kNotSupported: return {400, kCodeNotSupported};
    case StatusCode::kResourceExhausted: return {507, kCodeResourceExhausted};
    default: return {500, kCodeInternal};
  }
}

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

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

struct Server::Impl {
  std::shared_ptr<store::Backend> backend;
  ServerOptions options;
  httplib::Server http;
  Metrics metrics;
  Link link;
  std::unique_ptr<VerifiedCache> verified;  // sized from options at start()
  std::thread listener;
  int port = 0;
  std::mutex stop_mu;
  bool stopped = false;

  bool authorized(const httplib::Request& req) const {
    if (options.token.empty()) return true;
    const std::string h = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (h.size() <= kBearer.size() || h.compare(0, kBearer.size(), kBearer) != 0) return false;
    return constant_time_equal(std::string_view(h).substr(kBearer.size()), options.token);
  }

  // Wraps a route's handler: counts the body and checks the token.
  httplib::Server::Handler route(std::function<void(const httplib::Request&, httplib::Response&)> fn) {
    return [this, fn = std::move(fn)](const httplib::Request& req, httplib::Response& res) {
      metrics.add_bytes_received(req.body.size());
      if (!authorized(req)) {
        res.set_header("WWW-Authenticate", "Bearer");
        set_json_error(res, 401, kCodeUnauthorized, "missing or wrong bearer token");
        return;
      }
      fn(req, res);
    };
  }

  // Sends `payload`, paced by the link when it is throttled.
  void send_body(httplib::Response& res, std::string payload, const char* content_type) {
    if (!link.throttled()) {
      metrics.add_bytes_sent(payload.size());
      res.set_content(std::move(payload), content_type);
      return;
    }
    auto body = std::make_shared<std::string>(std::move(payload));
    res.set_content_provider(body->size(), content_type,
                             [this, body](size_t offset, size_t length, httplib::DataSink& sink) {
                               const size_t n = std::min(length, link.slice_bytes());
                               link.pace(n);
                               if (!sink.write(body->data() + offset, n)) return false;
                               metrics.add_bytes_sent(n);
                               return true;
                             });
  }

  // Reads and verifies chunk `key`; on failure fills `res` and returns nullopt.
  // A damaged chunk is removed so that a re-put heals it.
  std::optional<std::pair<std::string, store::StoredChunk>> read_chunk(const std::string& hex,
                                                                        httplib::Response& res) {
    auto key = store::ChunkKey::from_hex(hex);
    if (!key.ok()) {
      set_json_error(res, 400, kCodeInvalidArgument, key.status().message());
      return std::nullopt;
    }
    auto bytes = backend->get(*key);
    if (!bytes.ok()) {
      if (bytes.status().is_not_found()) metrics.chunk_miss();
      auto [status, code] = http_error(bytes.status());
      set_json_error(res, status, code, bytes.status().to_string(), key->hex());
      return std::nullopt;
    }
    auto chunk = store::parse_stored(*key, *bytes);
    if (!chunk.ok()) {
      if (chunk.status().is_corruption() || chunk.status().is_not_supported()) {
        metrics.chunk_corrupted();
        verified->erase(*key);
        const Status removed = backend->remove(*key);
        set_json_error(res, 500, kCodeCorruption,
                       "stored chunk " + key->hex() + " is damaged (" + chunk.status().message() + "); " +
                           (removed.ok() ? "removed it, re-put to heal" : "could not remove it: " + removed.to_string()),
                       key->hex());
      } else {
        auto [status, code] = http_error(chunk.status());
        set_json_error(res, status, code, chunk.status().to_string(), key->hex());
      }
      return std::nullopt;
    }
    metrics.chunk_hit();
    return std::make_pair(std::move(*bytes), std::move(*chunk));
  }

  static void chunk_headers(httplib::Response& res, const store::StoredChunk& c) {
    res.set_header(kHeaderTokens, std::to_string(c.tokens.size()));
    res.set_header(kHeaderFirstPosition, std::to_string(c.first_position));
    res.set_header(kHeaderChunkIndex, std::to_string(c.chunk_index));
  }

  void get_chunk(const httplib::Request& req, httplib::Response& res) {
    const std::string hex = req.matches[1];
    std::string level;
    if (req.has_param("level")) {
      auto codec = codec::make_codec(req.get_param_value("level"));
      if (!codec.ok()) {
        set_json_error(res, 400, kCodeInvalidArgument, codec.status().message());
        return;
      }
      level = (*codec)->spec();
    }
    if (level.empty()) {  // the whole container, read and verified afresh
      auto got = read_chunk(hex, res);
      if (!got) return;
      chunk_headers(res, got->second);
      send_body(res, std::move(got->first), "application/octet-stream");
      return;
    }
    std::shared_ptr<const store::StoredChunk> cached;
    if (auto key = store::ChunkKey::from_hex(hex); key.ok()) cached = verified->find(*key);
    if (cached) {
      metrics.chunk_hit();
    } else {
      auto got = read_chunk(hex, res);
      if (!got) return;
      const uint64_t container_bytes = got->first.size();
      cached = std::make_shared<const store::StoredChunk>(std::move(got->second));
      verified->insert(cached, container_bytes);
    }
    const store::StoredChunk& chunk = *cached;
    chunk_headers(res, chunk);
    const store::LevelFrame* frame = chunk.find(level);
    if (!frame) {
      set_json_error(res, 404, kCodeNotFound, chunk.missing_level(level).message(), chunk.key.hex());
      return;
    }
    res.set_header(kHeaderLevel, level);
    send_body(res, std::string(frame->frame), "application/octet-stream");
  }

  void get_tokens(const httplib::Request& req, httplib::Response& res) {
    auto got = read_chunk(req.matches[1], res);
    if (!got) return;
    const store::StoredChunk& chunk = got->second;
    chunk_headers(res, chunk);
    const nlohmann::json j = {{"key", chunk.key.hex()},
                              {"chunk_index", chunk.chunk_index},
                              {"first_position", chunk.first_position},
                              {"tokens", chunk.tokens}};
    send_body(res, j.dump(), "application/json");
  }

  void put_chunk(const httplib::Request& req, httplib::Response& res) {
    auto key = store::ChunkKey::from_hex(req.matches[1].str());
    if (!key.ok()) {
      set_json_error(res, 400, kCodeInvalidArgument, key.status().message());
      return;
    }
    auto chunk = store::parse_stored(*key, req.body);
    if (!chunk.ok()) {
      const std::string_view code = chunk.status().is_corruption() ? kCodeCorruption : kCodeInvalidArgument;
      set_json_error(res, 400, code, "refused chunk " + key->hex() + ": " + chunk.status().to_string(), key->hex());
      return;
    }
    verified->erase(*key);
    if (Status s = backend->put(*key, req.body); !s.ok()) {
      auto [status, code] = http_error(s);
      set_json_error(res, status, code, s.to_string(), key->hex());
      return;
    }
    metrics.chunk_stored();
    res.status = 201;
    res.set_content(nlohmann::json({{"key", key->hex()}, {"bytes", req.body.size()}}).dump(), "application/json");
  }

  void lookup(const httplib::Request& req, httplib::Response& res) {
    nlohmann::json j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("keys") || !j["keys"].is_array()) {
      set_json_error(res, 400, kCodeInvalidArgument, R"(lookup: body must be {"keys":["<32 hex digits>",...]})");
      return;
    }
    std::vector<store::ChunkKey> keys;
    keys.reserve(j["keys"].size());
    for (const auto& k : j["keys"]) {
      if (!k.is_string()) {
        set_json_error(res, 400, kCodeInvalidArgument, "lookup: every key must be a string of 32 hex digits");
        return;
      }
      auto key = store::ChunkKey::from_hex(k.get<std::string>());
      if (!key.ok()) {
        set_json_error(res, 400, kCodeInvalidArgument, key.status().message());
        return;
      }
      keys.push_back(*key);
    }
    auto n = backend->longest_prefix(keys);
    if (!n.ok()) {
      auto [status, code] = http_error(n.status());
      set_json_error(res, status, code, n.status().to_string());
      return;
    }
    const std::string body = nlohmann::json({{"prefix", *n}}).dump();
    metrics.add_bytes_sent(body.size());
    res.set_content(body, "application/json");
  }

  void install() {
    http.new_task_queue = [n = std::max(1, options.threads)] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
    http.set_payload_max_length(options.max_body_bytes);
    const time_t sec = options.timeout_ms / 1000, usec = (options.timeout_ms % 1000) * 1000;
    http.set_read_timeout(sec, usec);
    http.set_write_timeout(sec, usec);
    http.set_keep_alive_max_count(1000);
    // An idle kept-alive connection holds a worker until this passes, and stop()
    // waits for it: short, so that shutdown is quick.
    http.set_keep_alive_timeout(2);
    http.set_tcp_nodelay(true);
    http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
      t_route = route_label(req);
      t_start = Clock::now();
      t_timed = true;
      return httplib::Server::HandlerResponse::Unhandled;
    });
    // Counted before the response is written (post-routing, not the logger), so a
    // client that reads /metrics after its answer sees its own request counted.
    http.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
      const double seconds = t_timed ? std::chrono::duration<double>(Clock::now() - t_start).count() : -1.0;
      metrics.record_request(t_route ? t_route : "other", res.status, seconds);
      t_route = nullptr;
      t_timed = false;
    });
    // Every error without a body of its own (404 for unknown routes, 413, 400 from
    // the HTTP parser) gets a JSON one.
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty() || res.content_length_ > 0) return httplib::Server::HandlerResponse::Unhandled;
      switch (res.status) {
        case 404: set_json_error(res, 404, kCodeNotFound, "no route " + req.method + " " + req.path); break;
        case 413: set_json_error(res, 413, kCodeResourceExhausted, "request body too large"); break;
        default: set_json_error(res, res.status, res.status < 500 ? kCodeInvalidArgument : kCodeInternal,
                                "bad request"); break;
      }
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      set_json_error(res, 500, kCodeInternal, "internal error: " + what);
    });
    http.Post("/v1/lookup", route([this](const auto& req, auto& res) { lookup(req, res); }));
    http.Get(R"(/v1/chunk/([^/]*)/tokens)", route([this](const auto& req, auto& res) { get_tokens(req, res); }));
    http.Get(R"(/v1/chunk/([^/]*))", route([this](const auto& req, auto& res) { get_chunk(req, res); }));
    http.Put(R"(/v1/chunk/([^/]*))", route([this](const auto& req, auto& res) { put_chunk(req, res); }));
    http.Get("/metrics", route([this](const auto&, auto& res) {
      res.set_content(metrics.text(), "text/plain; version=0.0.4");
    }));
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::start(std::shared_ptr<store::Backend> backend, ServerOptions options) {
  if (!backend) return Status::InvalidArgument("serve: no backend");
  auto impl = std::make_unique<Impl>();
  impl->backend = std::move(backend);
  impl->options = std::move(options);
  impl->link.set(impl->options.bandwidth);
  impl->verified = std::make_unique<VerifiedCache>(impl->options.verified_cache_bytes);
  impl->install();
  const std::string where = impl->options.host + ":" + std::to_string(impl->options.port);
  if (impl->options.port == 0) {
    impl->port = impl->http.bind_to_any_port(impl->options.host);
    if (impl->port <= 0) return Status::IOError("serve: cannot bind " + where);
  } else {
    if (!impl->http.bind_to_port(impl->options.host, impl->options.port))
      return Status::IOError("serve: cannot bind " + where + " (in use, or not a local address?)");
    impl->port = impl->options.port;
  }
  Impl* raw = impl.get();
  impl->listener = std::thread([raw] { raw->http.listen_after_bind(); });
  // stop() is only effective once the listener runs.
  for (int i = 0; i < 5000 && !impl->http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }

std::string Server::url() const { return "http://" + impl_->options.host + ":" + std::to_string(impl_->port); }

void Server::set_bandwidth(BandwidthFn fn) { impl_->link.set(std::move(fn)); }

std::string Server::metrics_text() const { return impl_->metrics.text(); }

void Server::stop() {
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->http.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

}  // namespace kvforge::server

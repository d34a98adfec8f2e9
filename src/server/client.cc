#include "kvforge/core/hex.h"
#include "kvforge/server/client.h"

#include <httplib.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/http_common.h"

namespace kvforge::server {

namespace {

uint32_t header_u32(const httplib::Response& res, const char* name) {
  const std::string v = res.get_header_value(name);
  uint32_t out = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return 0;
    out = out * 10 + static_cast<uint32_t>(c - '0');
  }
  return out;
}

// Percent-encodes a query parameter value (level specs hold ':' and '=').
std::string encode_query(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

using SteadyClock = std::chrono::steady_clock;

// One request's limits as its transfer goes: the body so far and the first
// limit that failed. The receiver (on the request thread) and the watchdog both
// check, so everything is under mu.
class Transfer {
 public:
  Transfer(const ResponseLimits& limits, uint64_t route_cap, std::string what, std::atomic<uint64_t>* received)
      : limits_(limits),
        cap_(std::min(limits.max_bytes, route_cap)),
        what_(std::move(what)),
        received_(received),
        start_(SteadyClock::now()) {}

  // Whether anything bounds the time (then a watchdog runs).
  bool timed() const { return std::isfinite(limits_.timeout_seconds) || limits_.progress != nullptr; }
  double remaining() const { return limits_.timeout_seconds - elapsed(); }
  Status verdict() {
    std::lock_guard lock(mu_);
    return verdict_;
  }
  std::string take_body() {
    std::lock_guard lock(mu_);
    return std::move(body_);
  }
  void restart() {
    std::lock_guard lock(mu_);
    body_.clear();
  }

  // False (and the verdict set) once a limit failed.
  bool check() {
    std::lock_guard lock(mu_);
    return check_locked();
  }

  // The response handler: a Content-Length over the cap fails before any body.
  bool headers(const httplib::Response& res) {
    std::lock_guard lock(mu_);
    const std::string length = res.get_header_value("Content-Length");
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if ((ec == std::errc() && n > cap_) || ec == std::errc::result_out_of_range) return exceeded();
    return check_locked();
  }

  // The content receiver.
  bool accept(const char* data, size_t n) {
    std::lock_guard lock(mu_);
    if (!verdict_.ok()) return false;
    if (body_.size() + n > cap_) return exceeded();
    body_.append(data, n);
    received_->fetch_add(n);
    return check_locked();
  }

 private:
  double elapsed() const { return std::chrono::duration<double>(SteadyClock::now() - start_).count(); }

  bool exceeded() {
    verdict_ = Status::ResourceExhausted(what_ + ": the answer exceeds the cap of " + std::to_string(cap_) + " bytes");
    return false;
  }

  bool check_locked() {
    if (!verdict_.ok()) return false;
    const double t = elapsed();
    if (t >= limits_.timeout_seconds) {
      verdict_ =
          Status::IOError(what_ + ": no complete answer within the " +
                          std::to_string(std::llround(std::max(0.0, limits_.timeout_seconds) * 1e3)) + " ms allowed");
    } else if (limits_.progress) {
      verdict_ = limits_.progress(body_.size(), t).with_context(what_);
    }
    return verdict_.ok();
  }

  const ResponseLimits& limits_;
  const uint64_t cap_;
  const std::string what_;
  std::atomic<uint64_t>* received_;
  const SteadyClock::time_point start_;
  std::mutex mu_;
  std::string body_;
  Status verdict_;
};

// While a timed request runs: checks its limits every 50 ms and shuts its
// socket when one fails. cpp-httplib 0.11.4's timeouts are per recv, so a
// server that drips bytes (in its headers too) would otherwise hold the call
// for as long as it likes; stop() is its one thread-safe way to end a request.
class Watchdog {
 public:
  Watchdog(Transfer& t, httplib::Client& c) : t_(t), c_(c) {
    if (t.timed()) thread_ = std::thread([this] { run(); });
  }
  ~Watchdog() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return done_; })) {
      if (!t_.check()) {
        c_.stop();
        return;
      }
    }
  }

  Transfer& t_;
  httplib::Client& c_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

struct StoreClient::Impl {
  std::string host;
  int port = 0;
  ClientOptions options;
  std::mutex mu;
  std::vector<std::unique_ptr<httplib::Client>> idle;  // kept-alive connections
  std::atomic<uint64_t> received{0};

  std::unique_ptr<httplib::Client> acquire(double remaining_seconds) {
    std::unique_ptr<httplib::Client> c;
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        c = std::move(idle.back());
        idle.pop_back();
      }
    }
    if (!c) {
      c = std::make_unique<httplib::Client>(host, port);
      c->set_keep_alive(true);
      c->set_tcp_nodelay(true);
      if (!options.token.empty()) c->set_bearer_token_auth(options.token);
    }
    // Pooled connections serve callers with different time left: set each time.
    const auto ms = [&](int v) {
      const double left_ms = std::max(1.0, std::ceil(remaining_seconds * 1e3));
      return std::chrono::milliseconds(static_cast<int64_t>(std::min(static_cast<double>(v), left_ms)));
    };
    c->set_connection_timeout(ms(options.connect_timeout_ms));
    c->set_read_timeout(ms(options.timeout_ms));
    c->set_write_timeout(ms(options.timeout_ms));
    return c;
  }

  void release(std::unique_ptr<httplib::Client> c) {
    std::lock_guard lock(mu);
    idle.push_back(std::move(c));
  }

  // Runs `send` (given the connection and the transfer's handler and receiver)
  // on a pooled connection; one retry on a fresh connection when the transport
  // failed (a kept-alive socket the server closed meanwhile) and time is left.
  // A connection whose transfer failed a limit is dropped, never pooled.
  template <typename Send>
  Result<httplib::Response> request(const std::string& what, const ResponseLimits& limits, uint64_t route_cap,
                                    Send&& send) {
    Transfer t(limits, route_cap, what, &received);
    const httplib::ResponseHandler on_headers = [&](const httplib::Response& r) { return t.headers(r); };
    const httplib::ContentReceiver on_body = [&](const char* data, size_t n) { return t.accept(data, n); };
    httplib::Error last = httplib::Error::Success;
    for (int attempt = 0; attempt < 2 && t.check(); ++attempt) {
      auto c = acquire(t.remaining());
      t.restart();
      httplib::Result r = [&] {
        Watchdog watchdog(t, *c);
        return send(*c, on_headers, on_body);
      }();
      if (!t.verdict().ok()) break;
      if (r) {
        httplib::Response res = std::move(r.value());
        if (std::string body = t.take_body(); !body.empty()) res.body = std::move(body);
        release(std::move(c));
        return res;
      }
      last = r.error();
      if (last == httplib::Error::Connection || last == httplib::Error::ConnectionTimeout) break;
    }
    if (!t.check()) return t.verdict();
    // `what` (describe()) already names the URL.
    return Status::IOError("server client: " + what + " failed: " + httplib::to_string(last));
  }
  // The Status for a non-2xx answer, from its JSON error when there is one.
  static Status error_status(const std::string& what, const httplib::Response& res) {
    std::string message = "HTTP " + std::to_string(res.status), code;
    nlohmann::json j = nlohmann::json::parse(res.body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      message += ": " + j["error"].get<std::string>();
      if (j.contains("code") && j["code"].is_string()) code = j["code"].get<std::string>();
    }
    const std::string m = what + ": " + message;
    if (code == kCodeCorruption && res.status >= 500) return Status::Corruption(m);
    if (code == kCodeNotFound || res.status == 404) return Status::NotFound(m);
    if (res.status == 413 || code == kCodeResourceExhausted) return Status::ResourceExhausted(m);
    if (code == kCodeCorruption) return Status::Corruption(m);
    if (code == kCodeNotSupported) return Status::NotSupported(m);
    if (res.status >= 400 && res.status < 500) return Status::InvalidArgument(m);
    return Status::IOError(m);
  }

  std::string describe(const std::string& route) const {
    return route + " at http://" + host + ":" + std::to_string(port);
  }
};

Result<std::unique_ptr<StoreClient>> StoreClient::make(std::string_view url, ClientOptions options) {
  constexpr std::string_view kScheme = "http://";
  const std::string bad = "server client: URL must be http://host:port, got '" + std::string(url) + "'";
  if (url.substr(0, kScheme.size()) != kScheme) return Status::InvalidArgument(bad);
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || rest.find('/') != std::string_view::npos)
    return Status::InvalidArgument(bad);
  int port = 0;
  const std::string_view digits = rest.substr(colon + 1);
  if (digits.empty() || digits.size() > 5) return Status::InvalidArgument(bad);
  for (char c : digits) {
    if (c < '0' || c > '9') return Status::InvalidArgument(bad);
    port = port * 10 + (c - '0');
  }
  if (port <= 0 || port > 65535) return Status::InvalidArgument(bad);
  auto impl = std::make_unique<Impl>();
  impl->host = std::string(rest.substr(0, colon));
  impl->port = port;
  impl->options = std::move(options);
  std::string canonical = "http://" + impl->host + ":" + std::to_string(port);
  return std::unique_ptr<StoreClient>(new StoreClient(std::move(canonical), std::move(impl)));
}

StoreClient::StoreClient(std::string url, std::unique_ptr<Impl> impl) : url_(std::move(url)), impl_(std::move(impl)) {}
StoreClient::~StoreClient() = default;

uint64_t StoreClient::bytes_received() const { return impl_->received.load(); }

Result<size_t> StoreClient::lookup(std::span<const store::ChunkKey> keys, const ResponseLimits& limits) {
  constexpr uint64_t kAnswerCap = 64 << 10;  // {"prefix": n}
  nlohmann::json body = {{"keys", nlohmann::json::array()}};
  for (const auto& k : keys) body["keys"].push_back(k.hex());
  const std::string what = impl_->describe("POST /v1/lookup");
  const std::string text = body.dump();
  auto res =
      impl_->request(what, limits, kAnswerCap, [&](httplib::Client& c, const auto& on_headers, const auto& on_body) {
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/lookup";
        req.body = text;
        req.set_header("Content-Type", "application/json");
        req.response_handler = on_headers;
        req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) { return on_body(data, n); };
        return c.send(req);
      });
  if (!res.ok()) return res.status();
  if (res->status != 200) return Impl::error_status(what, *res);
  nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("prefix") || !j["prefix"].is_number_unsigned())
    return Status::IOError(what + ": malformed answer");
  const size_t n = j["prefix"].get<size_t>();
  if (n > keys.size()) return Status::IOError(what + ": prefix larger than the keys asked");
  return n;
}

namespace {

Result<Fetched> fetch(StoreClient::Impl& impl, const std::string& path, const ResponseLimits& limits) {
  const std::string what = impl.describe("GET " + path);
  const auto t0 = SteadyClock::now();
  auto res = impl.request(what, limits, std::numeric_limits<uint64_t>::max(),
                          [&](httplib::Client& c, const auto& on_headers, const auto& on_body) {
                            return c.Get(path, on_headers, on_body);
                          });
  if (!res.ok()) return res.status();
  if (res->status != 200) return StoreClient::Impl::error_status(what, *res);
  Fetched out;
  out.seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  out.tokens = header_u32(*res, kHeaderTokens);
  out.first_position = header_u32(*res, kHeaderFirstPosition);
  out.mac = core::from_hex(res->get_header_value(kHeaderMac)).value_or("");
  out.bytes = std::move(res->body);
  return out;
}

}  // namespace

Result<Fetched> StoreClient::fetch_level(const store::ChunkKey& key, std::string_view level,
                                         const ResponseLimits& limits) {
  return fetch(*impl_, "/v1/chunk/" + key.hex() + "?level=" + encode_query(level), limits);
}

Result<Fetched> StoreClient::fetch_chunk(const store::ChunkKey& key, const ResponseLimits& limits) {
  return fetch(*impl_, "/v1/chunk/" + key.hex(), limits);
}

Result<std::vector<int32_t>> StoreClient::fetch_tokens(const store::ChunkKey& key, const ResponseLimits& limits) {
  const std::string path = "/v1/chunk/" + key.hex() + "/tokens";
  auto f = fetch(*impl_, path, limits);
  if (!f.ok()) return f.status();
  const std::string what = impl_->describe("GET " + path);
  nlohmann::json j = nlohmann::json::parse(f->bytes, nullptr, false);
  if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array())
    return Status::IOError(what + ": malformed answer");
  std::vector<int32_t> tokens;
  tokens.reserve(j["tokens"].size());
  for (const auto& t : j["tokens"]) {
    if (!t.is_number_integer()) return Status::IOError(what + ": malformed answer");
    tokens.push_back(t.get<int32_t>());
  }
  return tokens;
}

Status StoreClient::put(const store::ChunkKey& key, std::string_view container) {
  const std::string path = "/v1/chunk/" + key.hex();
  const std::string what = impl_->describe("PUT " + path);
  // Read whole: 0.11.4 has no Put with a receiver, and the answer is a short JSON acknowledgement.
  auto res =
      impl_->request(what, {}, std::numeric_limits<uint64_t>::max(), [&](httplib::Client& c, const auto&, const auto&) {
        return c.Put(path.c_str(), container.data(), container.size(), "application/octet-stream");
      });
  if (!res.ok()) return res.status();
  if (res->status != 200 && res->status != 201) return Impl::error_status(what, *res);
  return Status::OK();
}

Status StoreClient::put(const store::StoredChunk& chunk) {
  auto bytes = store::serialize_chunk(chunk);
  if (!bytes.ok()) return bytes.status();
  return put(chunk.key, *bytes);
}

}  // namespace kvforge::server

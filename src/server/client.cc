#include "kvforge/server/client.h"

#include <httplib.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>

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

}  // namespace

struct StoreClient::Impl {
  std::string host;
  int port = 0;
  ClientOptions options;
  std::mutex mu;
  std::vector<std::unique_ptr<httplib::Client>> idle;  // kept-alive connections

  std::unique_ptr<httplib::Client> acquire() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        auto c = std::move(idle.back());
        idle.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<httplib::Client>(host, port);
    const auto ms = [](int v) { return std::chrono::milliseconds(v); };
    c->set_connection_timeout(ms(options.connect_timeout_ms));
    c->set_read_timeout(ms(options.timeout_ms));
    c->set_write_timeout(ms(options.timeout_ms));
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    if (!options.token.empty()) c->set_bearer_token_auth(options.token);
    return c;
  }

  void release(std::unique_ptr<httplib::Client> c) {
    std::lock_guard lock(mu);
    idle.push_back(std::move(c));
  }

  // Runs `send` on a pooled connection; one retry on a fresh connection when the
  // transport failed (a kept-alive socket the server closed meanwhile).
  template <typename Send>
  Result<httplib::Response> request(const std::string& what, Send&& send) {
    httplib::Error last = httplib::Error::Success;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto c = acquire();
      httplib::Result r = send(*c);
      if (r) {
        httplib::Response res = std::move(r.value());
        release(std::move(c));
        return res;
      }
      last = r.error();
      if (last == httplib::Error::Connection || last == httplib::Error::ConnectionTimeout) break;
    }
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

Result<size_t> StoreClient::lookup(std::span<const store::ChunkKey> keys) {
  nlohmann::json body = {{"keys", nlohmann::json::array()}};
  for (const auto& k : keys) body["keys"].push_back(k.hex());
  const std::string what = impl_->describe("POST /v1/lookup");
  const std::string text = body.dump();
  auto res = impl_->request(what, [&](httplib::Client& c) { return c.Post("/v1/lookup", text, "application/json"); });
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

Result<Fetched> fetch(StoreClient::Impl& impl, const std::string& path, const std::string& what) {
  const auto t0 = std::chrono::steady_clock::now();
  auto res = impl.request(what, [&](httplib::Client& c) { return c.Get(path); });
  if (!res.ok()) return res.status();
  if (res->status != 200) return StoreClient::Impl::error_status(what, *res);
  Fetched out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.tokens = header_u32(*res, kHeaderTokens);
  out.first_position = header_u32(*res, kHeaderFirstPosition);
  out.bytes = std::move(res->body);
  return out;
}

}  // namespace

Result<Fetched> StoreClient::fetch_level(const store::ChunkKey& key, std::string_view level) {
  const std::string path = "/v1/chunk/" + key.hex() + "?level=" + encode_query(level);
  return fetch(*impl_, path, impl_->describe("GET " + path));
}

Result<Fetched> StoreClient::fetch_chunk(const store::ChunkKey& key) {
  const std::string path = "/v1/chunk/" + key.hex();
  return fetch(*impl_, path, impl_->describe("GET " + path));
}

Result<std::vector<int32_t>> StoreClient::fetch_tokens(const store::ChunkKey& key) {
  const std::string path = "/v1/chunk/" + key.hex() + "/tokens";
  const std::string what = impl_->describe("GET " + path);
  auto f = fetch(*impl_, path, what);
  if (!f.ok()) return f.status();
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
  auto res = impl_->request(what, [&](httplib::Client& c) {
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

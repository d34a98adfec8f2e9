#include <nlohmann/json.hpp>

#include "kvforge/codec/codec.h"
#include "kvforge/core/hex.h"
#include "kvforge/store/chunk_io.h"
#include "server/http_common.h"
#include "server/server_impl.h"

namespace kvforge::server {

void set_json_error(httplib::Response& res, int status, std::string_view code, const std::string& message,
                    const std::string& key) {
  nlohmann::json j = {{"error", message}, {"code", code}};
  if (!key.empty()) j["key"] = key;
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

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


// Sends `payload`, paced by the link when it is throttled.
void Server::Impl::send_body(httplib::Response& res, std::string payload, const char* content_type) {
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
std::optional<std::pair<std::string, store::StoredChunk>> Server::Impl::read_chunk(const std::string& hex,
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
  if (chunk.ok() && signer) {
    if (Status s = signer->verify(*chunk); !s.ok()) chunk = s;
  }
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

void Server::Impl::chunk_headers(httplib::Response& res, const store::StoredChunk& c) {
  res.set_header(kHeaderTokens, std::to_string(c.tokens.size()));
  res.set_header(kHeaderFirstPosition, std::to_string(c.first_position));
  res.set_header(kHeaderChunkIndex, std::to_string(c.chunk_index));
}

void Server::Impl::get_chunk(const httplib::Request& req, httplib::Response& res) {
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
  if (!frame->mac.empty()) res.set_header(kHeaderMac, core::to_hex(frame->mac));
  send_body(res, std::string(frame->frame), "application/octet-stream");
}

void Server::Impl::get_tokens(const httplib::Request& req, httplib::Response& res) {
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

void Server::Impl::put_chunk(const httplib::Request& req, const std::string& body, httplib::Response& res) {
  auto key = store::ChunkKey::from_hex(req.matches[1].str());
  if (!key.ok()) {
    set_json_error(res, 400, kCodeInvalidArgument, key.status().message());
    return;
  }
  auto chunk = store::parse_stored(*key, body);
  if (chunk.ok() && signer) {
    if (Status s = signer->verify(*chunk); !s.ok()) chunk = s;
  }
  if (!chunk.ok()) {
    const std::string_view code = chunk.status().is_corruption() ? kCodeCorruption : kCodeInvalidArgument;
    set_json_error(res, 400, code, "refused chunk " + key->hex() + ": " + chunk.status().to_string(), key->hex());
    return;
  }
  verified->erase(*key);
  if (Status s = backend->put(*key, body); !s.ok()) {
    auto [status, code] = http_error(s);
    set_json_error(res, status, code, s.to_string(), key->hex());
    return;
  }
  metrics.chunk_stored();
  res.status = 201;
  res.set_content(nlohmann::json({{"key", key->hex()}, {"bytes", body.size()}}).dump(), "application/json");
}

void Server::Impl::lookup(const std::string& body, httplib::Response& res) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
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
  const std::string answer = nlohmann::json({{"prefix", *n}}).dump();
  metrics.add_bytes_sent(answer.size());
  res.set_content(answer, "application/json");
}


}  // namespace kvforge::server

// The client of `kvforge serve` (docs/SERVER.md): lookups, one level's frame,
// token ids, whole chunks, puts.
//
// Errors are Statuses naming the URL and route: IOError when the server cannot
// be reached, times out or answers 5xx; Corruption when the server reports a
// damaged chunk (it has dropped it: recompute, or re-put); NotFound for a chunk
// or level it does not hold; InvalidArgument for a request it refused (4xx,
// 401 included); ResourceExhausted for 413, and for an answer larger than the
// caller's cap (ResponseLimits).
//
// Thread-safety: thread-safe. Connections are kept alive and pooled, one per
// concurrent caller.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/store/chunk_key.h"
#include "kvforge/store/stored_chunk.h"

namespace kvforge::server {

struct ClientOptions {
  std::string token;               // sent as `Authorization: Bearer <token>` when non-empty
  int connect_timeout_ms = 3000;
  int timeout_ms = 30000;          // per socket read / write
};

// Bounds on one request, for a caller with a deadline (the loader). The body
// streams through a receiver that checks them as bytes arrive, and a watchdog
// thread checks them at least every 50 ms (a server that stalls in its headers
// or sends nothing is caught too) and shuts the socket when one fails, so the
// call returns at the time limit, not after the socket timeout, and memory
// stays bounded for chunked answers without Content-Length.
struct ResponseLimits {
  // Seconds from the call until the request is abandoned (IOError naming the
  // limit); the socket timeouts are cut to it too. <= 0: fails at once.
  double timeout_seconds = std::numeric_limits<double>::infinity();
  // Most body bytes accepted: a larger answer is abandoned once it passes this
  // (ResourceExhausted naming the URL and the cap), and at once when its
  // Content-Length says so.
  uint64_t max_bytes = std::numeric_limits<uint64_t>::max();
  // Asked with the body bytes so far and the seconds since the call (never
  // concurrently, possibly from the watchdog thread): a non-OK status abandons
  // the request and is returned.
  std::function<Status(uint64_t bytes, double seconds)> progress;
};

// One response body and how long it took (request sent to last byte read).
struct Fetched {
  std::string bytes;
  double seconds = 0;
  // The chunk's token count and first position, from the response headers.
  uint32_t tokens = 0;
  uint32_t first_position = 0;
  // A signed chunk's level MAC (X-Kvf-Mac), raw bytes; empty when absent.
  std::string mac;
};

class StoreClient {
 public:
  // `url`: "http://host:port" (no path). InvalidArgument for anything else.
  static Result<std::unique_ptr<StoreClient>> make(std::string_view url, ClientOptions options = {});
  ~StoreClient();

  using Limits = ResponseLimits;

  const std::string& url() const { return url_; }
  // Response body bytes accepted so far, over all requests (what a cap bounds).
  uint64_t bytes_received() const;
  // How many leading keys the server holds. The answer is capped at 64 KiB
  // (it is one number) whatever `limits` says.
  Result<size_t> lookup(std::span<const store::ChunkKey> keys, const ResponseLimits& limits = {});
  // The frame of `level` (any spec codec::make_codec takes) of chunk `key`.
  Result<Fetched> fetch_level(const store::ChunkKey& key, std::string_view level, const ResponseLimits& limits = {});
  // The chunk's token ids (for recomputing it from text).
  Result<std::vector<int32_t>> fetch_tokens(const store::ChunkKey& key, const ResponseLimits& limits = {});
  // The whole container bytes (store::parse_stored verifies them).
  Result<Fetched> fetch_chunk(const store::ChunkKey& key, const ResponseLimits& limits = {});
  // Stores a container (store::serialize_chunk bytes) under `key`; OK once the
  // server's backend acknowledged it.
  Status put(const store::ChunkKey& key, std::string_view container);
  Status put(const store::StoredChunk& chunk);

  struct Impl;

 private:
  StoreClient(std::string url, std::unique_ptr<Impl> impl);
  std::string url_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvforge::server

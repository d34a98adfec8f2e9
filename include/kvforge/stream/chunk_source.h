// Where a loading client gets stored chunks from: one small interface with the
// operations of the HTTP client (server::StoreClient), so a local store, a
// throttled local store and the network all plug into the same loader.
//
//   BackendSource    a store::Backend in this process (file://, mem://)
//   ThrottledSource  wraps any source; paces each response by a BandwidthTrace
//   ClientSource<C>  adapts any client with lookup / fetch_level / fetch_tokens
//                    whose fetch_level returns {bytes, seconds, ...}
//
// Failure: NotFound = not stored (recompute); Corruption = the bytes are
// damaged (drop, recompute); ResourceExhausted = the frame is larger than the
// cap asked (drop, recompute); anything else (IOError, a server gone) = the
// source is unusable for the rest of this load, unless the loader abandoned the
// fetch itself (FetchLimits: time, progress). Sources may also throw; the
// loader treats a throw like an IOError.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/store/backend.h"
#include "kvforge/store/chunk_key.h"
#include "kvforge/stream/bandwidth_trace.h"
#include "kvforge/core/env.h"

namespace kvforge::stream {

// One level's codec frame and how long it took to arrive.
struct Fetched {
  std::string bytes;
  double seconds = 0;
  std::string mac = {};  // the level's MAC when its chunk is signed (store/chunk_signer.h), else empty
};

// What the loader allows one request (server::ResponseLimits, which a
// ClientSource passes them as). A source enforces what it can: a network
// client all three, as bytes arrive; a local backend only the cap, once read.
struct FetchLimits {
  // Seconds from the call until the request is abandoned (an error).
  double timeout_seconds = std::numeric_limits<double>::infinity();
  // Most bytes accepted: ResourceExhausted beyond.
  uint64_t max_bytes = std::numeric_limits<uint64_t>::max();
  // Asked with the bytes so far and the seconds since the call, as they
  // arrive and while none do: a non-OK status abandons the request with it.
  std::function<Status(uint64_t bytes, double seconds)> progress;
};

// ResourceExhausted naming `what` and the cap when `bytes` exceeds it.
Status check_cap(uint64_t bytes, const FetchLimits& limits, const std::string& what);

class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // How many leading keys are stored.
  virtual Result<size_t> lookup(std::span<const store::ChunkKey> keys, const FetchLimits& limits) = 0;
  // The frame of `level` (any spec codec::make_codec takes) of chunk `key`.
  virtual Result<Fetched> fetch_level(const store::ChunkKey& key, std::string_view level,
                                      const FetchLimits& limits) = 0;
  // The chunk's token ids.
  virtual Result<std::vector<int32_t>> fetch_tokens(const store::ChunkKey& key) = 0;
};

// A backend in this process; each fetch reads and verifies the whole chunk
// (store::get_chunk). Thread-safe as the backend is. Does not own it.
class BackendSource final : public ChunkSource {
 public:
  explicit BackendSource(store::Backend& backend) : backend_(backend) {}
  Result<size_t> lookup(std::span<const store::ChunkKey> keys, const FetchLimits& limits) override;
  Result<Fetched> fetch_level(const store::ChunkKey& key, std::string_view level, const FetchLimits& limits) override;
  Result<std::vector<int32_t>> fetch_tokens(const store::ChunkKey& key) override;

 private:
  store::Backend& backend_;
};

// Link emulation: each response of `inner` is delivered as if it crossed a link
// whose bandwidth follows `trace` (time 0 = construction or restart()): a
// transfer of B bytes starting at t ends at t + trace.transfer_seconds(t, B)
// (or when `inner` answered, if later); the source sleeps on `clock` until
// then. Transfers are serial (one link). `seconds` is the emulated duration.
// A frame that would arrive after its time limit is abandoned at the limit
// (IOError). lookup costs nothing; fetch_tokens is paced as 4 bytes per token.
// Not owned: inner, trace, clock. Not thread-safe: one fetch loop calls it.
class ThrottledSource final : public ChunkSource {
 public:
  ThrottledSource(ChunkSource& inner, const BandwidthTrace& trace, core::Clock& clock);
  // The trace starts over: its time 0 is now.
  void restart();
  Result<size_t> lookup(std::span<const store::ChunkKey> keys, const FetchLimits& limits) override {
    return inner_.lookup(keys, limits);
  }
  Result<Fetched> fetch_level(const store::ChunkKey& key, std::string_view level, const FetchLimits& limits) override;
  Result<std::vector<int32_t>> fetch_tokens(const store::ChunkKey& key) override;
  uint64_t bytes_delivered() const { return bytes_; }

 private:
  // Sleeps until `bytes` crossed the link, or `limit` seconds passed: the
  // transfer's seconds, or -1 when it was cut at the limit.
  double pace(double start, double bytes, double limit);
  ChunkSource& inner_;
  const BandwidthTrace& trace_;
  core::Clock& clock_;
  double origin_;
  uint64_t bytes_ = 0;
};

// Adapts a client with the same three operations (e.g. server::StoreClient,
// whose fetch_level returns a struct with `bytes` and `seconds`, and whose
// Client::Limits has FetchLimits' fields). Not owned.
template <typename Client>
class ClientSource final : public ChunkSource {
 public:
  explicit ClientSource(Client& client) : client_(client) {}
  Result<size_t> lookup(std::span<const store::ChunkKey> keys, const FetchLimits& limits) override {
    return client_.lookup(keys, convert(limits));
  }
  Result<Fetched> fetch_level(const store::ChunkKey& key, std::string_view level, const FetchLimits& limits) override {
    auto r = client_.fetch_level(key, level, convert(limits));
    if (!r.ok()) return r.status();
    return Fetched{std::move(r->bytes), r->seconds, std::move(r->mac)};
  }
  Result<std::vector<int32_t>> fetch_tokens(const store::ChunkKey& key) override {
    return client_.fetch_tokens(key);
  }

 private:
  static typename Client::Limits convert(const FetchLimits& limits) {
    typename Client::Limits out;
    out.timeout_seconds = limits.timeout_seconds;
    out.max_bytes = limits.max_bytes;
    out.progress = limits.progress;
    return out;
  }
  Client& client_;
};

}  // namespace kvforge::stream

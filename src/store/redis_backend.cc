// redis://host:port: blobs in a Redis server shared by many inference
// machines. The LRU order and the byte count live in Redis too, so every
// client sees one store and one capacity:
//   <prefix>:c:<key hex>   the blob
//   <prefix>:lru           sorted set, key hex scored by last use (microseconds)
//   <prefix>:size          hash, key hex -> blob bytes
//   <prefix>:bytes         total blob bytes
//   <prefix>:evictions     blobs dropped for capacity
// Writes and uses run as Lua scripts, so a put, its byte accounting and its
// evictions are one atomic step even with many writers.
//
// One connection per backend (store/redis_connection.h), under a mutex.
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>

#include "store/backends.h"
#include "store/redis_connection.h"
#include "store/redis_maintenance.h"

namespace kvforge::store {

namespace {

constexpr int kDefaultTimeoutMs = 2000;

// KEYS: blob, lru, size, bytes, evictions. ARGV: blob bytes, key hex, now,
// capacity (0: none), blob prefix. Returns the number of evictions.
constexpr const char* kPutScript = R"lua(
local old = redis.call('HGET', KEYS[3], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], string.len(ARGV[1]))
local total = redis.call('INCRBY', KEYS[4], string.len(ARGV[1]) - (tonumber(old) or 0))
local capacity = tonumber(ARGV[4])
local evicted = 0
while capacity > 0 and total > capacity do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 1)
  local victim = oldest[1]
  if victim == ARGV[2] then victim = oldest[2] end
  if not victim then break end
  local size = tonumber(redis.call('HGET', KEYS[3], victim)) or 0
  redis.call('DEL', ARGV[5] .. victim)
  redis.call('ZREM', KEYS[2], victim)
  redis.call('HDEL', KEYS[3], victim)
  total = redis.call('DECRBY', KEYS[4], size)
  redis.call('INCR', KEYS[5])
  evicted = evicted + 1
end
return evicted
)lua";

// KEYS: blob, lru. ARGV: key hex, now. The blob (nil when absent), a use.
constexpr const char* kGetScript = R"lua(
local blob = redis.call('GET', KEYS[1])
if blob then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
return blob
)lua";

// KEYS: blob, lru, size, bytes. ARGV: key hex. 1 when removed, 0 when absent.
constexpr const char* kRemoveScript = R"lua(
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local size = tonumber(redis.call('HGET', KEYS[3], ARGV[1])) or 0
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('DECRBY', KEYS[4], size)
return 1
)lua";

// Wall-clock microseconds, strictly increasing within this process, so uses in
// quick succession keep their order in the LRU set (clients on other machines
// order by their clocks).
int64_t use_stamp(core::Clock& clock) {
  static std::atomic<int64_t> last{0};
  const int64_t wall = clock.now_micros();
  int64_t prev = last.load();
  int64_t next;
  do {
    next = std::max(wall, prev + 1);
  } while (!last.compare_exchange_weak(prev, next));
  return next;
}

class RedisBackend final : public Backend {
 public:
  RedisBackend(std::string url, std::string host, int port, std::string prefix, uint64_t capacity, int timeout_ms,
               core::Clock* clock)
      : clock_(clock), redis_(url, std::move(host), port, timeout_ms), keys_{std::move(prefix)}, capacity_(capacity) {}

  std::string url() const override { return redis_.url(); }

  Status connect() {
    std::lock_guard lock(mu_);
    KVF_RETURN_IF_ERROR(redis_.ensure_connected());
    return check_eviction_policy(redis_, capacity_);
  }

  Result<RepairReport> repair() override {
    std::lock_guard lock(mu_);
    return repair_redis_store(redis_, keys_, use_stamp(*clock_));
  }

  Status put(const ChunkKey& key, std::string_view bytes) override {
    if (capacity_ > 0 && bytes.size() > capacity_) {
      return Status::ResourceExhausted("store: chunk " + key.hex() + " of " + std::to_string(bytes.size()) +
                                       " bytes exceeds the capacity of " + url());
    }
    const std::string hex = key.hex(), now = std::to_string(use_stamp(*clock_)), cap = std::to_string(capacity_);
    const std::string blob_prefix = keys_.blob_prefix();
    std::lock_guard lock(mu_);
    KVF_ASSIGN_OR_RETURN(Reply r, eval(kPutScript, {blob_key(hex), lru_key(), size_key(), bytes_key(), evictions_key()},
                                       {std::string(bytes), hex, now, cap, blob_prefix}));
    return Status::OK();
  }

  Result<std::string> get(const ChunkKey& key) override {
    const std::string hex = key.hex();
    std::lock_guard lock(mu_);
    KVF_ASSIGN_OR_RETURN(Reply r, eval(kGetScript, {blob_key(hex), lru_key()}, {hex, std::to_string(use_stamp(*clock_))}));
    if (r->type == REDIS_REPLY_NIL) return not_found(key);
    if (r->type != REDIS_REPLY_STRING) return unexpected("get");
    return std::string(r->str, r->len);
  }

  Result<std::string> peek(const ChunkKey& key) override {
    const std::string k = blob_key(key.hex());
    std::lock_guard lock(mu_);
    KVF_ASSIGN_OR_RETURN(Reply r, command({"GET", k}));
    if (r->type == REDIS_REPLY_NIL) return not_found(key);
    if (r->type != REDIS_REPLY_STRING) return unexpected("peek");
    return std::string(r->str, r->len);
  }

  Result<bool> contains(const ChunkKey& key) override {
    const std::string k = blob_key(key.hex());
    std::lock_guard lock(mu_);
    KVF_ASSIGN_OR_RETURN(Reply r, command({"EXISTS", k}));
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  }

  Status remove(const ChunkKey& key) override {
    const std::string hex = key.hex();
    std::lock_guard lock(mu_);
    KVF_ASSIGN_OR_RETURN(Reply r, eval(kRemoveScript, {blob_key(hex), lru_key(), size_key(), bytes_key()}, {hex}));
    if (r->type != REDIS_REPLY_INTEGER) return unexpected("remove");
    return r->integer == 1 ? Status::OK() : not_found(key);
  }

  Result<std::vector<EntryInfo>> list() override {
    std::lock_guard lock(mu_);
    KVF_ASSIGN_OR_RETURN(Reply order, command({"ZREVRANGE", lru_key(), "0", "-1", "WITHSCORES"}));
    if (order->type != REDIS_REPLY_ARRAY || order->elements % 2 != 0) return unexpected("list");
    std::vector<EntryInfo> out;
    for (size_t i = 0; i + 1 < order->elements; i += 2) {
      const std::string hex(order->element[i]->str, order->element[i]->len);
      auto key = ChunkKey::from_hex(hex);
      if (!key.ok()) return Status::Corruption("store: " + url() + " lists a malformed key " + core::quote(hex));
      EntryInfo e;
      e.key = *key;
      e.last_use_micros = std::stoll(std::string(order->element[i + 1]->str, order->element[i + 1]->len));
      KVF_ASSIGN_OR_RETURN(Reply size, command({"HGET", size_key(), hex}));
      if (size->type == REDIS_REPLY_STRING) e.bytes = std::stoull(std::string(size->str, size->len));
      out.push_back(e);
    }
    return out;
  }

  Result<BackendStats> stats() override {
    std::lock_guard lock(mu_);
    BackendStats s;
    s.capacity_bytes = capacity_;
    KVF_ASSIGN_OR_RETURN(Reply n, command({"ZCARD", lru_key()}));
    if (n->type == REDIS_REPLY_INTEGER) s.entries = static_cast<uint64_t>(n->integer);
    KVF_ASSIGN_OR_RETURN(Reply bytes, command({"GET", bytes_key()}));
    if (bytes->type == REDIS_REPLY_STRING) s.bytes = std::stoull(std::string(bytes->str, bytes->len));
    KVF_ASSIGN_OR_RETURN(Reply ev, command({"GET", evictions_key()}));
    if (ev->type == REDIS_REPLY_STRING) s.evictions = std::stoull(std::string(ev->str, ev->len));
    return s;
  }

  // One round trip for all keys (pipelined EXISTS) instead of one per chunk.
  Result<size_t> longest_prefix(std::span<const ChunkKey> keys) override {
    std::vector<std::vector<std::string>> exists;
    for (const ChunkKey& k : keys) exists.push_back({"EXISTS", blob_key(k.hex())});
    std::lock_guard lock(mu_);
    KVF_ASSIGN_OR_RETURN(const std::vector<Reply> replies, redis_.pipeline(exists));
    size_t prefix = 0;
    while (prefix < replies.size() && replies[prefix]->type == REDIS_REPLY_INTEGER && replies[prefix]->integer == 1) {
      ++prefix;
    }
    return prefix;
  }

 private:
  std::string blob_key(const std::string& hex) const { return keys_.blob(hex); }
  std::string lru_key() const { return keys_.lru(); }
  std::string size_key() const { return keys_.size(); }
  std::string bytes_key() const { return keys_.bytes(); }
  std::string evictions_key() const { return keys_.evictions(); }

  Status not_found(const ChunkKey& key) const {
    return Status::NotFound("store: chunk " + key.hex() + " is not in " + redis_.url());
  }
  Status unexpected(const char* what) const { return redis_.unexpected(what); }
  Result<Reply> command(const std::vector<std::string>& args) { return redis_.command(args); }
  Result<Reply> eval(const char* script, const std::vector<std::string>& keys, const std::vector<std::string>& args) {
    return redis_.eval(script, keys, args);
  }

  core::Clock* const clock_;  // use stamps; not owned
  std::mutex mu_;
  RedisConnection redis_;
  const RedisKeys keys_;
  const uint64_t capacity_;
};

}  // namespace

Result<std::unique_ptr<Backend>> open_redis_backend(core::Spec& params, const StoreUrl& url, core::Env* env) {
  KVF_ASSIGN_OR_RETURN(const uint64_t capacity, params.get_bytes("capacity", 0));
  KVF_ASSIGN_OR_RETURN(const int64_t timeout_ms, params.get_int("timeout_ms", kDefaultTimeoutMs, 1, 600000));
  KVF_ASSIGN_OR_RETURN(const std::string prefix, params.get_string("prefix", "kvforge"));
  KVF_RETURN_IF_ERROR(params.finish());
  if (prefix.empty()) return params.error("prefix must be non-empty");
  const size_t colon = url.location.rfind(':');
  const std::string host = colon == std::string::npos ? url.location : url.location.substr(0, colon);
  int port = 6379;
  if (colon != std::string::npos) {
    const std::string p = url.location.substr(colon + 1);
    char* end = nullptr;
    const long v = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || v < 1 || v > 65535) {
      return params.error("port '" + p + "' is not in 1..65535");
    }
    port = static_cast<int>(v);
  }
  if (host.empty()) return params.error("redis:// needs host[:port]");
  auto backend = std::make_unique<RedisBackend>(url.text, host, port, prefix, capacity, static_cast<int>(timeout_ms), env);
  KVF_RETURN_IF_ERROR(backend->connect());
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace kvforge::store

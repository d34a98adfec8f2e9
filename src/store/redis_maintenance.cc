#include "store/redis_maintenance.h"

#include <set>
#include <string>

#include "kvforge/store/chunk_key.h"

namespace kvforge::store {

namespace {

// KEYS: blob, lru, size. ARGV: key hex. Drops the entry when its blob is gone: 1, else 0.
constexpr const char* kDropIfGoneScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
)lua";

// KEYS: blob, lru, size. ARGV: key hex, use stamp. Records a present blob the
// bookkeeping lost or mis-sized: 1 when something was fixed, else 0.
constexpr const char* kAdoptScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local fixed = redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
local n = redis.call('STRLEN', KEYS[1])
if tonumber(redis.call('HGET', KEYS[3], ARGV[1])) ~= n then
  redis.call('HSET', KEYS[3], ARGV[1], n)
  fixed = 1
end
return fixed
)lua";

// KEYS: size, bytes, evictions. Recounts the byte total: {before, after}.
constexpr const char* kRecountScript = R"lua(
local before = tonumber(redis.call('GET', KEYS[2])) or 0
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
redis.call('SET', KEYS[2], total)
redis.call('SETNX', KEYS[3], 0)
return {before, total}
)lua";

Result<std::string> config_value(RedisConnection& redis, const std::string& name) {
  KVF_ASSIGN_OR_RETURN(Reply r, redis.command({"CONFIG", "GET", name}));
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return redis.unexpected("CONFIG GET");
  return reply_text(*r->element[1]);
}

// Key hexes of every blob present (SCAN, so the server is never blocked long).
Result<std::set<std::string>> blobs_present(RedisConnection& redis, const RedisKeys& keys) {
  std::set<std::string> out;
  std::string cursor = "0";
  const std::string pattern = keys.blob_prefix() + "*";
  do {
    KVF_ASSIGN_OR_RETURN(Reply r, redis.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return redis.unexpected("SCAN");
    cursor = reply_text(*r->element[0]);
    const redisReply& batch = *r->element[1];
    for (size_t i = 0; i < batch.elements; ++i) {
      std::string hex = reply_text(*batch.element[i]).substr(keys.blob_prefix().size());
      if (ChunkKey::from_hex(hex).ok()) out.insert(std::move(hex));  // other names are not the store's
    }
  } while (cursor != "0");
  return out;
}

Result<std::set<std::string>> members(RedisConnection& redis, const std::vector<std::string>& cmd) {
  KVF_ASSIGN_OR_RETURN(Reply r, redis.command(cmd));
  if (r->type != REDIS_REPLY_ARRAY) return redis.unexpected(cmd[0].c_str());
  std::set<std::string> out;
  for (size_t i = 0; i < r->elements; ++i) out.insert(reply_text(*r->element[i]));
  return out;
}

}  // namespace

Status check_eviction_policy(RedisConnection& redis, uint64_t capacity) {
  auto maxmemory_text = config_value(redis, "maxmemory");
  if (!maxmemory_text.ok()) return Status::OK();  // CONFIG hidden (managed servers): cannot check
  KVF_ASSIGN_OR_RETURN(const std::string policy, config_value(redis, "maxmemory-policy"));
  const uint64_t maxmemory = std::stoull("0" + *maxmemory_text);
  if (maxmemory == 0 || policy.rfind("allkeys-", 0) != 0) return Status::OK();
  if (capacity > 0 && capacity <= maxmemory / 2) return Status::OK();
  return Status::InvalidArgument("store: " + redis.url() + ": the server's maxmemory-policy " + policy +
                                 " with maxmemory " + std::to_string(maxmemory) +
                                 " may evict the store's keys under it; set ?capacity= to at most half of "
                                 "maxmemory (" + std::to_string(maxmemory / 2) +
                                 ") or give the server a noeviction or volatile-* policy");
}

Result<RepairReport> repair_redis_store(RedisConnection& redis, const RedisKeys& keys, int64_t stamp) {
  KVF_ASSIGN_OR_RETURN(const std::set<std::string> present, blobs_present(redis, keys));
  KVF_ASSIGN_OR_RETURN(std::set<std::string> listed, members(redis, {"ZRANGE", keys.lru(), "0", "-1"}));
  KVF_ASSIGN_OR_RETURN(const std::set<std::string> sized, members(redis, {"HKEYS", keys.size()}));
  listed.insert(sized.begin(), sized.end());
  RepairReport report;
  for (const std::string& hex : listed) {
    if (present.count(hex)) continue;
    KVF_ASSIGN_OR_RETURN(Reply r, redis.eval(kDropIfGoneScript, {keys.blob(hex), keys.lru(), keys.size()}, {hex}));
    report.entries_dropped += r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  }
  for (const std::string& hex : present) {
    KVF_ASSIGN_OR_RETURN(Reply r, redis.eval(kAdoptScript, {keys.blob(hex), keys.lru(), keys.size()},
                                             {hex, std::to_string(stamp)}));
    report.entries_fixed += r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  }
  KVF_ASSIGN_OR_RETURN(Reply totals, redis.eval(kRecountScript, {keys.size(), keys.bytes(), keys.evictions()}, {}));
  if (totals->type != REDIS_REPLY_ARRAY || totals->elements != 2) return redis.unexpected("recount");
  report.bytes_before = static_cast<uint64_t>(totals->element[0]->integer);
  report.bytes_after = static_cast<uint64_t>(totals->element[1]->integer);
  KVF_ASSIGN_OR_RETURN(Reply n, redis.command({"ZCARD", keys.lru()}));
  report.blobs = static_cast<uint64_t>(n->integer);
  return report;
}

}  // namespace kvforge::store

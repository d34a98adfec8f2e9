// What keeps a redis:// store sound on a server it shares: the eviction-policy
// check at open, and the repair of its bookkeeping after outside deletions.
#pragma once
#include <cstdint>

#include "kvforge/store/backend.h"
#include "store/redis_connection.h"

namespace kvforge::store {

// A server whose maxmemory-policy may evict any key (allkeys-*) can delete the
// store's blobs under it. Such a server is refused unless the store's own
// capacity is set and at most half of maxmemory, so the store evicts first.
// No maxmemory, noeviction and volatile-* (the store sets no TTL) are safe.
// A server that hides CONFIG cannot be checked and is accepted.
Status check_eviction_policy(RedisConnection& redis, uint64_t capacity);

// Drops LRU/size entries whose blob is gone, adds blobs they lost (with use
// stamp `stamp`), and recounts the byte total. Each fix re-checks its blob in
// one Lua step, so it is safe beside concurrent writers.
Result<RepairReport> repair_redis_store(RedisConnection& redis, const RedisKeys& keys, int64_t stamp);

}  // namespace kvforge::store

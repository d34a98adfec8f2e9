// A redis:// store on a server that evicts keys for maxmemory: refused unless
// the store's own capacity keeps it well under, and repaired by fsck after
// outside deletions (issue 17).
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

#include "kvforge/store/chunk_io.h"
#include "kvforge/store/fsck.h"
#include "kvforge/store/registry.h"
#include "redis_server.h"
#include "store/synthetic_chunk.h"

namespace kvforge::store {
namespace {

// A command on the server behind the store's back; its reply as text (integers
// and arrays' first element included), "" for none.
std::string redis(int port, const std::vector<std::string>& args) {
  std::unique_ptr<redisContext, void (*)(redisContext*)> c(redisConnect("127.0.0.1", port), redisFree);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c.get(), static_cast<int>(args.size()), argv.data(), lens.data()));
  std::string out;
  if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)) {
    out.assign(r->str, r->len);
  } else if (r && r->type == REDIS_REPLY_INTEGER) {
    out = std::to_string(r->integer);
  }
  freeReplyObject(r);
  return out;
}

uint64_t info_field(int port, const std::string& field) {
  const std::string info = redis(port, {"INFO", "stats"});
  const size_t at = info.find(field + ":");
  return at == std::string::npos ? UINT64_MAX : std::stoull(info.substr(at + field.size() + 1));
}

// Every listed chunk reads back verified, and the byte total is their sum.
void expect_consistent(Backend& b) {
  auto entries = b.list();
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  uint64_t sum = 0;
  for (const EntryInfo& e : *entries) {
    auto chunk = peek_chunk(b, e.key);
    EXPECT_TRUE(chunk.ok()) << e.key.hex() << ": " << chunk.status().to_string();
    sum += e.bytes;
  }
  EXPECT_EQ(b.stats()->bytes, sum);
  EXPECT_EQ(b.stats()->entries, entries->size());
}

TEST(RedisMaxmemory, AnEvictingPolicyIsRefusedUnlessTheCapacityStaysUnderHalf) {
  testing::RedisServer server;
  redis(server.port(), {"CONFIG", "SET", "maxmemory", "4mb"});
  redis(server.port(), {"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"});
  for (const char* params : {"", "capacity=3m"}) {
    auto refused = open_backend(server.url("p", params));
    ASSERT_FALSE(refused.ok()) << params;
    EXPECT_TRUE(refused.status().is_invalid_argument());
    EXPECT_NE(refused.status().message().find("maxmemory-policy allkeys-lru"), std::string::npos)
        << refused.status().message();
  }
  EXPECT_TRUE(open_backend(server.url("p", "capacity=2m")).ok());
  for (const char* policy : {"noeviction", "volatile-lru"}) {
    redis(server.port(), {"CONFIG", "SET", "maxmemory-policy", policy});
    EXPECT_TRUE(open_backend(server.url("p")).ok()) << policy;
  }
}

// The audit's case: 512 chunks put through a store on an allkeys-lru server.
// Kept under half of maxmemory by its own LRU, Redis evicts none of its keys.
TEST(RedisMaxmemory, AStoreUnderHalfOfMaxmemoryLosesNothingToTheServer) {
  testing::RedisServer server;
  redis(server.port(), {"CONFIG", "SET", "maxmemory", "16mb"});
  redis(server.port(), {"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"});
  auto b = open_backend(server.url("p", "capacity=4m"));
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  for (uint32_t i = 0; i < 512; ++i) {
    const StoredChunk c = testdata::synthetic_chunk(i, 64);
    ASSERT_TRUE(put_chunk(**b, c).ok()) << i;
  }
  EXPECT_EQ(info_field(server.port(), "evicted_keys"), 0u);
  EXPECT_GT((*b)->stats()->evictions, 0u);  // the store's own LRU made the room
  expect_consistent(**b);
}

TEST(RedisMaxmemory, FsckRepairsTheBookkeepingAfterOutsideDeletions) {
  testing::RedisServer server;
  auto b = open_backend(server.url("p"));
  ASSERT_TRUE(b.ok());
  std::vector<ChunkKey> keys;
  for (uint32_t i = 0; i < 20; ++i) {
    const StoredChunk c = testdata::synthetic_chunk(i);
    ASSERT_TRUE(put_chunk(**b, c).ok());
    keys.push_back(c.key);
  }
  // What maxmemory eviction did in the audit: blobs and the byte count gone,
  // and a blob the LRU set lost.
  for (int i : {3, 7, 11}) redis(server.port(), {"DEL", "p:c:" + keys[i].hex()});
  redis(server.port(), {"DEL", "p:bytes"});
  redis(server.port(), {"ZREM", "p:lru", keys[15].hex()});
  redis(server.port(), {"SET", "p:c:" + keys[9].hex(), "not a container"});  // damaged, and mis-sized
  redis(server.port(), {"SET", "p:c:stray", "not the store's"});               // another name: left alone
  EXPECT_FALSE(peek_chunk(**b, keys[3]).ok());

  auto report = fsck(**b);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->entries_dropped, 3u);
  EXPECT_EQ(report->entries_fixed, 2u);  // keys[15] back in the LRU set, keys[9]'s size
  EXPECT_EQ(report->bytes_before, 0u);
  EXPECT_EQ(report->damaged_removed, 1u);
  EXPECT_EQ(report->blobs, 16u);
  EXPECT_EQ(redis(server.port(), {"EXISTS", "p:c:stray"}), "1");
  expect_consistent(**b);
  EXPECT_TRUE(peek_chunk(**b, keys[15]).ok());
  auto again = fsck(**b);  // a sound store: nothing to do
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->entries_dropped + again->entries_fixed + again->damaged_removed, 0u);
}

}  // namespace
}  // namespace kvforge::store

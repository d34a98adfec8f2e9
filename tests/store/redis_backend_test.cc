// What only the redis:// backend promises: one store shared by every client
// (LRU order and capacity included), clear errors when the server is away,
// and recovery once it is back.
#include <gtest/gtest.h>

#include "kvforge/store/registry.h"
#include "redis_server.h"

namespace kvforge::store {
namespace {

ChunkKey key_of(int i) { return chunk_key(7, nullptr, std::vector<int32_t>{i}); }

TEST(RedisBackend, ClientsShareOneStoreAndOneCapacity) {
  testing::RedisServer server;
  auto a = open_backend(server.url("shared", "capacity=300"));
  auto b = open_backend(server.url("shared", "capacity=300"));
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().to_string();
  const std::string blob(100, 'x');
  ASSERT_TRUE((*a)->put(key_of(0), blob).ok());
  ASSERT_TRUE((*b)->put(key_of(1), blob).ok());
  ASSERT_TRUE((*a)->put(key_of(2), blob).ok());
  EXPECT_EQ(*(*b)->get(key_of(0)), blob);  // b's use makes 1 the oldest for a too
  ASSERT_TRUE((*a)->put(key_of(3), blob).ok());
  EXPECT_FALSE(*(*b)->contains(key_of(1)));
  for (int i : {0, 2, 3}) EXPECT_TRUE(*(*a)->contains(key_of(i))) << i;
  EXPECT_EQ((*b)->stats()->bytes, 300u);
  EXPECT_EQ((*b)->stats()->evictions, 1u);
  // A different prefix is a different store on the same server.
  auto other = open_backend(server.url("other"));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(*(*other)->contains(key_of(0)));
}

TEST(RedisBackend, AnUnreachableServerIsIOErrorNamingTheUrl) {
  int port = 0;
  {
    testing::RedisServer server;
    port = server.port();
  }  // stopped: nothing listens there now
  const std::string url = "redis://127.0.0.1:" + std::to_string(port) + "?timeout_ms=500";
  auto b = open_backend(url);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(b.status().is_io_error()) << b.status().to_string();
  EXPECT_NE(b.status().message().find(url), std::string::npos) << b.status().message();
}

TEST(RedisBackend, RecoversWhenTheServerComesBack) {
  auto server = std::make_unique<testing::RedisServer>();
  const int port = server->port();
  auto b = open_backend(server->url("again", "timeout_ms=500"));
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->put(key_of(1), "one").ok());
  server.reset();  // killed: calls fail with IOError, never crash or hang
  const Status down = (*b)->put(key_of(2), "two");
  EXPECT_TRUE(down.is_io_error()) << down.to_string();
  EXPECT_TRUE((*b)->get(key_of(1)).status().is_io_error());
  testing::RedisServer back(port);  // the same address, empty (no persistence)
  ASSERT_TRUE((*b)->put(key_of(2), "two").ok());
  EXPECT_EQ(*(*b)->get(key_of(2)), "two");
  EXPECT_TRUE((*b)->get(key_of(1)).status().is_not_found());
}

TEST(RedisBackend, BadUrlsAreInvalidArgumentNamingThem) {
  for (const std::string url : {"redis://", "redis://host:0", "redis://host:99999", "redis://host:12ab",
                                "redis://127.0.0.1:6379?capacity=lots", "redis://127.0.0.1:6379?prefx=a",
                                "redis://127.0.0.1:6379?prefix=", "redis://127.0.0.1:6379?timeout_ms=0"}) {
    auto b = open_backend(url);
    ASSERT_FALSE(b.ok()) << url;
    EXPECT_TRUE(b.status().is_invalid_argument()) << url << ": " << b.status().to_string();
    EXPECT_NE(b.status().message().find(url), std::string::npos) << b.status().message();
  }
}

}  // namespace
}  // namespace kvforge::store

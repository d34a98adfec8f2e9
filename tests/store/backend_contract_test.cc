// What every backend promises, run over each scheme (new backends get it free):
// round trip, replace, remove, NotFound, longest prefix, LRU eviction under a
// capacity, concurrent use.
#include <gtest/gtest.h>

#include <thread>

#include "kvforge/store/chunk_io.h"
#include "kvforge/store/fsck.h"
#include "kvforge/store/registry.h"
#include "redis_server.h"
#include "store/synthetic_chunk.h"
#include "temp_dir.h"

namespace kvforge::store {
namespace {

ChunkKey key_of(int i) { return chunk_key(42, nullptr, std::vector<int32_t>{i}); }

class BackendContract : public ::testing::TestWithParam<std::string> {
 protected:
  // A fresh store of this scheme; `params` is appended as the URL's query.
  std::unique_ptr<Backend> open(const std::string& params = "") {
    std::string url;
    if (GetParam() == "redis") {
      // One server for the suite; a fresh key prefix per store.
      static testing::RedisServer server;
      static int stores = 0;
      url = server.url("contract" + std::to_string(++stores), params);
    } else {
      url = GetParam() == "file" ? "file://" + dir_.path() + "/store" : "mem://";
      if (!params.empty()) url += "?" + params;
    }
    auto b = open_backend(url);
    EXPECT_TRUE(b.ok()) << b.status().to_string();
    return b.ok() ? std::move(*b) : nullptr;
  }
  testing::TempDir dir_;
};

TEST_P(BackendContract, PutGetReplaceRemove) {
  auto b = open();
  ASSERT_TRUE(b);
  const ChunkKey k = key_of(1);
  EXPECT_TRUE(b->get(k).status().is_not_found());
  EXPECT_FALSE(*b->contains(k));
  ASSERT_TRUE(b->put(k, "hello").ok());
  EXPECT_TRUE(*b->contains(k));
  EXPECT_EQ(*b->get(k), "hello");
  EXPECT_EQ(*b->peek(k), "hello");
  ASSERT_TRUE(b->put(k, std::string("\0bin\xff", 5)).ok());
  EXPECT_EQ(*b->get(k), std::string("\0bin\xff", 5));
  auto stats = b->stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->entries, 1u);
  EXPECT_EQ(stats->bytes, 5u);
  ASSERT_TRUE(b->remove(k).ok());
  EXPECT_TRUE(b->remove(k).is_not_found());
  const Status miss = b->get(k).status();
  EXPECT_TRUE(miss.is_not_found());
  EXPECT_NE(miss.message().find(k.hex()), std::string::npos) << miss.message();
  EXPECT_EQ(b->stats()->bytes, 0u);
}

TEST_P(BackendContract, LongestPrefix) {
  auto b = open();
  ASSERT_TRUE(b);
  std::vector<int32_t> tokens(10 * 16);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i);
  const auto keys = ChunkKeyer(7, 16).keys(tokens);
  ASSERT_EQ(keys.size(), 10u);
  EXPECT_EQ(*b->longest_prefix(keys), 0u);
  for (int i : {0, 1, 2, 3, 5, 6}) ASSERT_TRUE(b->put(keys[i], "x").ok());
  EXPECT_EQ(*b->longest_prefix(keys), 4u);  // chunk 4 missing: 5 and 6 do not count
  ASSERT_TRUE(b->put(keys[4], "x").ok());
  EXPECT_EQ(*b->longest_prefix(keys), 7u);
  EXPECT_EQ(*b->longest_prefix(std::span(keys).first(3)), 3u);
  EXPECT_EQ(*b->longest_prefix({}), 0u);
}

TEST_P(BackendContract, EvictsLeastRecentlyUsedUnderCapacity) {
  auto b = open("capacity=300");
  ASSERT_TRUE(b);
  const std::string blob(100, 'b');
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b->put(key_of(i), blob).ok());
  ASSERT_TRUE(b->get(key_of(0)).ok());   // 1 is now the least recently used
  ASSERT_TRUE(b->peek(key_of(1)).ok());  // a peek is not a use
  ASSERT_TRUE(b->put(key_of(3), blob).ok());
  EXPECT_FALSE(*b->contains(key_of(1)));
  EXPECT_TRUE(b->get(key_of(1)).status().is_not_found());
  for (int i : {0, 2, 3}) EXPECT_TRUE(*b->contains(key_of(i))) << i;
  auto stats = b->stats();
  EXPECT_EQ(stats->bytes, 300u);
  EXPECT_EQ(stats->capacity_bytes, 300u);
  EXPECT_EQ(stats->evictions, 1u);
  auto listed = b->list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0].key, key_of(3));  // most recent first
  EXPECT_EQ((*listed)[1].key, key_of(0));
  EXPECT_EQ((*listed)[2].key, key_of(2));
  EXPECT_GT((*listed)[0].last_use_micros, 0);

  // One blob larger than the whole store is refused and evicts nothing.
  EXPECT_EQ(b->put(key_of(9), std::string(301, 'x')).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(b->list()->size(), 3u);
}

TEST_P(BackendContract, ConcurrentWritersAndReaders) {
  auto b = open();
  ASSERT_TRUE(b);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const ChunkKey k = key_of(t * 100 + i);
        const std::string value = "value " + std::to_string(t * 100 + i);
        EXPECT_TRUE(b->put(k, value).ok());
        EXPECT_EQ(*b->get(k), value);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(b->stats()->entries, 80u);
}

// fsck on a sound store finds nothing to fix and keeps every chunk.
TEST_P(BackendContract, FsckOfASoundStoreChangesNothing) {
  auto b = open();
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(put_chunk(*b, testdata::synthetic_chunk(i)).ok());
  const BackendStats before = *b->stats();
  auto report = fsck(*b);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->entries_dropped + report->entries_fixed + report->damaged_removed, 0u);
  EXPECT_EQ(report->blobs, 5u);
  EXPECT_EQ(report->bytes_after, before.bytes);
  EXPECT_EQ(b->stats()->entries, 5u);
}

INSTANTIATE_TEST_SUITE_P(Schemes, BackendContract, ::testing::ValuesIn(backend_schemes()),
                         [](const auto& info) { return info.param; });

TEST(BackendRegistry, BadUrlsAreInvalidArgumentNamingThem) {
  testing::TempDir dir;
  for (const std::string url : {"nope://x", "redis-ish", "", "mem://somewhere", "mem://?capacity=lots",
                                "mem://?capacty=1k", "file://", "file://otherhost/tmp/x", "mem://?novalue"}) {
    auto b = open_backend(url);
    ASSERT_FALSE(b.ok()) << url;
    EXPECT_TRUE(b.status().is_invalid_argument()) << url << ": " << b.status().to_string();
    EXPECT_NE(b.status().message().find("'" + url + "'"), std::string::npos) << b.status().message();
  }
  auto unknown = open_backend("nope://x");
  EXPECT_NE(unknown.status().message().find("file, mem"), std::string::npos) << unknown.status().message();
  EXPECT_EQ(backend_schemes(), (std::vector<std::string>{"file", "mem", "redis"}));
}

TEST(BackendRegistry, UrlsOpenWhatTheySay) {
  testing::TempDir dir;
  auto mem = open_backend("mem://?capacity=2k");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ((*mem)->stats()->capacity_bytes, 2048u);
  EXPECT_EQ((*mem)->url(), "mem://?capacity=2k");
  auto file = open_backend("file:" + dir.path() + "/plain?capacity=1m");
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ((*file)->stats()->capacity_bytes, 1u << 20);
  auto local = open_backend("file://localhost" + dir.path() + "/local");
  ASSERT_TRUE(local.ok()) << local.status().to_string();
  EXPECT_EQ((*local)->stats()->capacity_bytes, 0u);  // unbounded by default
}

}  // namespace
}  // namespace kvforge::store

// file:// specifics: the index rebuilt from disk at open (entries, sizes, LRU
// order), stale temp files from a crashed writer ignored and deleted, foreign
// files left alone.
#include <gtest/gtest.h>

#include <filesystem>

#include "kvforge/store/registry.h"
#include "shared_paths.h"
#include "temp_dir.h"

namespace kvforge::store {
namespace {

namespace fs = std::filesystem;

ChunkKey key_of(int i) { return chunk_key(42, nullptr, std::vector<int32_t>{i}); }

std::unique_ptr<Backend> open_dir(const std::string& dir, const std::string& query = "") {
  auto b = open_backend("file://" + dir + (query.empty() ? "" : "?" + query));
  EXPECT_TRUE(b.ok()) << b.status().to_string();
  return b.ok() ? std::move(*b) : nullptr;
}

std::vector<ChunkKey> keys_of(Backend& b) {
  const auto listed = b.list();
  std::vector<ChunkKey> out;
  for (const EntryInfo& e : *listed) out.push_back(e.key);
  return out;
}

TEST(FileBackend, ReopenRebuildsTheIndex) {
  testing::TempDir dir;
  {
    auto b = open_dir(dir.path());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(b->put(key_of(i), std::string(10 + i, 'a' + i)).ok());
    ASSERT_TRUE(b->get(key_of(0)).ok());
  }
  auto b = open_dir(dir.path());
  EXPECT_EQ(keys_of(*b), (std::vector<ChunkKey>{key_of(0), key_of(2), key_of(1)}));
  EXPECT_EQ(b->stats()->bytes, 33u);
  EXPECT_EQ(*b->get(key_of(1)), "bbbbbbbbbbb");
  EXPECT_TRUE(fs::exists(dir.path() + "/" + key_of(1).hex() + ".kvc"));
}

TEST(FileBackend, LruOrderSurvivesReopen) {
  testing::TempDir dir;
  const std::string blob(100, 'x');
  {
    auto b = open_dir(dir.path(), "capacity=300");
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(b->put(key_of(i), blob).ok());
    ASSERT_TRUE(b->get(key_of(0)).ok());
  }
  auto b = open_dir(dir.path(), "capacity=300");
  ASSERT_TRUE(b->put(key_of(3), blob).ok());
  EXPECT_FALSE(*b->contains(key_of(1)));
  EXPECT_FALSE(fs::exists(dir.path() + "/" + key_of(1).hex() + ".kvc"));  // evicted means deleted
  EXPECT_TRUE(*b->contains(key_of(0)));
}

TEST(FileBackend, ReopenWithASmallerCapacityEvicts) {
  testing::TempDir dir;
  {
    auto b = open_dir(dir.path());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(b->put(key_of(i), std::string(100, 'x')).ok());
  }
  auto b = open_dir(dir.path(), "capacity=250");
  EXPECT_EQ(keys_of(*b), (std::vector<ChunkKey>{key_of(3), key_of(2)}));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 2);
}

TEST(FileBackend, CrashLeftoversAreNeverReadAsChunks) {
  testing::TempDir dir;
  {
    auto b = open_dir(dir.path());
    ASSERT_TRUE(b->put(key_of(1), "complete").ok());
  }
  // A writer killed before its rename leaves only its temp file (pid 2^22 + 1
  // is past Linux's pid_max, so no live process owns it).
  // Temp names are <file>.tmp.<pid>.<n> (one per write); the older <file>.tmp.<pid> too.
  const std::string dead = key_of(2).hex() + ".kvc.tmp.4194305.17";
  const std::string over = key_of(1).hex() + ".kvc.tmp.4194305";
  dir.write(dead, {'h', 'a', 'l', 'f'});
  dir.write(over, {'n', 'e', 'w'});
  // A live writer's temp file (our parent's pid) stays, and foreign files are left alone.
  const std::string live = key_of(3).hex() + ".kvc.tmp." + std::to_string(::getppid()) + ".0";
  dir.write(live, {'w', 'i', 'p'});
  dir.write("README", {'h', 'i'});

  auto b = open_dir(dir.path());
  EXPECT_EQ(keys_of(*b), std::vector<ChunkKey>{key_of(1)});
  EXPECT_EQ(*b->get(key_of(1)), "complete");
  EXPECT_TRUE(b->get(key_of(2)).status().is_not_found());
  EXPECT_TRUE(b->get(key_of(3)).status().is_not_found());
  EXPECT_FALSE(fs::exists(dir.path() + "/" + dead));
  EXPECT_FALSE(fs::exists(dir.path() + "/" + over));
  EXPECT_TRUE(fs::exists(dir.path() + "/" + live));
  EXPECT_TRUE(fs::exists(dir.path() + "/README"));
  // Writes leave no temp files behind.
  ASSERT_TRUE(b->put(key_of(4), "x").ok());
  for (const auto& e : fs::directory_iterator(dir.path())) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name.ends_with(".kvc") || name == "README" || name == live) << name;
  }
}

TEST(FileBackend, AFileDeletedBehindItsBackIsNotFound) {
  testing::TempDir dir;
  auto b = open_dir(dir.path());
  ASSERT_TRUE(b->put(key_of(1), "x").ok());
  fs::remove(dir.path() + "/" + key_of(1).hex() + ".kvc");
  EXPECT_TRUE(b->get(key_of(1)).status().is_not_found());
  EXPECT_FALSE(*b->contains(key_of(1)));
  EXPECT_EQ(b->stats()->bytes, 0u);
}

TEST(FileBackend, UnwritableDirectoryIsIOError) {
  auto b = open_backend("file:///proc/kvforge-store");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(b.status().is_io_error()) << b.status().to_string();
  EXPECT_NE(b.status().message().find("/proc/kvforge-store"), std::string::npos);
}

}  // namespace
}  // namespace kvforge::store

// Issue 17's temp-file collision: writers in one process (two backends on one
// directory, several threads each) putting one key, 10,000 puts in all. Every
// acknowledged put must be what its writer reads back next, unless another
// writer's later put replaced it; never a torn, older or vanished one.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "kvforge/store/registry.h"
#include "temp_dir.h"

namespace kvforge::store {
namespace {

std::string value_of(int writer, int i) { return "writer " + std::to_string(writer) + " put " + std::to_string(i); }

TEST(FileBackendWriters, TwoBackendsManyThreadsOneKeyLoseNoAcknowledgedPut) {
  testing::TempDir dir;
  const std::string url = "file://" + dir.path();
  auto a = open_backend(url), b = open_backend(url);
  ASSERT_TRUE(a.ok() && b.ok());
  Backend* backends[] = {a->get(), b->get()};
  const ChunkKey key = chunk_key(42, nullptr, std::vector<int32_t>{1});
  constexpr int kWriters = 4, kPutsEach = 2500;  // 10,000 puts
  std::atomic<int> failed{0}, lost{0}, foreign{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      Backend& backend = *backends[w % 2];
      const std::string mine = "writer " + std::to_string(w) + " put ";
      for (int i = 0; i < kPutsEach; ++i) {
        if (!backend.put(key, value_of(w, i)).ok()) {
          ++failed;
          continue;
        }
        auto got = backend.get(key);
        if (!got.ok()) {
          ++lost;  // acknowledged, and then nothing there
        } else if (got->rfind(mine, 0) == 0) {
          lost += *got != value_of(w, i);  // our own older put, or torn: ours was lost
        } else if (got->rfind("writer ", 0) != 0) {
          ++foreign;  // bytes of no writer
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(lost.load(), 0);
  EXPECT_EQ(foreign.load(), 0);
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(e.path().filename().string(), key.hex() + ".kvc") << "a temp file was left behind";
  }
  EXPECT_EQ(files, 1u);
}

}  // namespace
}  // namespace kvforge::store

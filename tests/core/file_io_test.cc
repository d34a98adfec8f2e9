// write_file_atomic: concurrent writers of one path (issue 17: a temp name per
// process let two threads' bytes mix and an acknowledged write vanish), and
// every fault of FaultInjectionEnv ending in a named Status with the target
// whole: the old bytes or the new ones, never a mix, and no temp file left.
#include "kvforge/core/file_io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "fault_injection_env.h"
#include "temp_dir.h"

namespace kvforge::core {
namespace {

// Distinct per writer and position, so a mix of two is never equal to either.
std::string payload(int writer, size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + static_cast<size_t>(writer) * 17 + i / 251) & 0xff);
  return s;
}

std::vector<std::string> names_in(const std::string& dir) { return *Env::Default()->list_dir(dir); }

TEST(AtomicTempPath, UniquePerCallAndParsedBack) {
  const std::string a = atomic_temp_path("/d/x.kvc"), b = atomic_temp_path("/d/x.kvc");
  EXPECT_NE(a, b);
  const std::string pid = std::to_string(::getpid());
  EXPECT_EQ(a.rfind("/d/x.kvc.tmp." + pid + ".", 0), 0u) << a;
  EXPECT_EQ(atomic_temp_writer("x.kvc.tmp." + pid + ".7"), ::getpid());
  EXPECT_EQ(atomic_temp_writer("x.kvc.tmp.123"), 123) << "the older <path>.tmp.<pid> form";
  EXPECT_EQ(atomic_temp_writer("x.kvc.tmp.abc"), 0);
  EXPECT_EQ(atomic_temp_writer("x.kvc.tmp.12.x"), 0);
  EXPECT_EQ(atomic_temp_writer("x.kvc"), std::nullopt);
}

// The issue-17 regression: many threads write one path at once, round after
// round. Every call must succeed, every read in between must see one writer's
// whole payload, and no temp file may stay behind.
TEST(WriteFileAtomic, ConcurrentWritersOfOnePathNeverMix) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/target";
  constexpr int kThreads = 6, kRounds = 60;
  constexpr size_t kSize = 24 * 1024;
  std::vector<std::string> payloads;
  for (int w = 0; w < kThreads; ++w) payloads.push_back(payload(w, kSize + static_cast<size_t>(w)));
  auto is_payload = [&](const std::string& s) {
    return std::find(payloads.begin(), payloads.end(), s) != payloads.end();
  };

  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> ready{0}, failures{0}, mixed{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < kThreads; ++w) {
      threads.emplace_back([&, w] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();  // start together
        if (!write_file_atomic(path, payloads[static_cast<size_t>(w)]).ok()) failures.fetch_add(1);
        auto got = read_file(path);  // someone's rename has happened: ours at least
        if (!got.ok() || !is_payload(*got)) mixed.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(failures.load(), 0) << "round " << round;
    ASSERT_EQ(mixed.load(), 0) << "round " << round << ": a read saw bytes of no single writer";
    auto final_bytes = read_file(path);
    ASSERT_TRUE(final_bytes.ok());
    ASSERT_TRUE(is_payload(*final_bytes)) << "round " << round;
    ASSERT_EQ(names_in(dir.path()), std::vector<std::string>{"target"}) << "a temp file was left behind";
  }
}

struct FaultCase {
  const char* name;
  void (*arm)(testing::FaultInjectionEnv&);
  const char* says;  // what the Status message must name
};

// Each fault: a named error, the old content intact, no temp file.
TEST(WriteFileAtomic, InjectedFaultsFailCleanly) {
  const FaultCase cases[] = {
      {"fsync", [](testing::FaultInjectionEnv& e) { e.set_fail_sync(true); }, "injected fsync failure"},
      {"rename", [](testing::FaultInjectionEnv& e) { e.set_fail_rename(true); }, "injected rename failure"},
      {"enospc", [](testing::FaultInjectionEnv& e) { e.set_space_left(1000); }, "No space left on device"},
  };
  for (const FaultCase& c : cases) {
    SCOPED_TRACE(c.name);
    testing::TempDir dir;
    testing::FaultInjectionEnv env;
    const std::string path = dir.path() + "/f";
    ASSERT_TRUE(write_file_atomic(path, "old", &env).ok());
    c.arm(env);
    const Status s = write_file_atomic(path, payload(1, 5000), &env);
    ASSERT_TRUE(s.is_io_error()) << s.to_string();
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.to_string();
    EXPECT_NE(s.message().find(path), std::string::npos) << "names the file: " << s.to_string();
    EXPECT_EQ(*read_file(path), "old");
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"f"});
  }
}

TEST(WriteFileAtomic, DirectorySyncFailureIsReported) {
  testing::TempDir dir;
  testing::FaultInjectionEnv env;
  env.set_fail_dir_sync(true);
  const Status s = write_file_atomic(dir.path() + "/f", "new", &env);
  ASSERT_TRUE(s.is_io_error()) << s.to_string();
  EXPECT_NE(s.message().find("directory"), std::string::npos) << s.to_string();
  // The rename happened but may not survive a crash: whole if there, never torn.
  ASSERT_TRUE(env.simulate_crash().ok());
  auto got = read_file(dir.path() + "/f");
  EXPECT_TRUE(got.status().is_not_found()) << "the unsynced entry reverted";
}

// A crash after every possible number of operations, and in the middle of
// the data: after the restart the target is the old file or the new one.
TEST(WriteFileAtomic, CrashAnywhereLeavesOldOrNew) {
  const std::string next = payload(2, 3000);
  bool saw_old = false, saw_new = false;
  for (int64_t point = 0; point < 12; ++point) {
    for (bool by_bytes : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "crash point " << point << (by_bytes ? " (bytes)" : " (ops)"));
      testing::TempDir dir;
      testing::FaultInjectionEnv env;
      const std::string path = dir.path() + "/f";
      ASSERT_TRUE(write_file_atomic(path, "old", &env).ok());
      if (by_bytes) {
        env.crash_after_bytes(point * 300);
      } else {
        env.crash_after_ops(point);
      }
      const Status s = write_file_atomic(path, next, &env);
      EXPECT_EQ(s.ok(), !env.crashed()) << s.to_string();
      ASSERT_TRUE(env.simulate_crash().ok());
      const std::string got = *read_file(path);
      if (s.ok()) {
        EXPECT_EQ(got, next) << "an acknowledged write was lost";
      }
      EXPECT_TRUE(got == "old" || got == next) << "torn: " << got.size() << " bytes";
      saw_old |= got == "old";
      saw_new |= got == next;
      EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"f"});
    }
  }
  EXPECT_TRUE(saw_old && saw_new) << "the crash points must cover both outcomes";
}

}  // namespace
}  // namespace kvforge::core

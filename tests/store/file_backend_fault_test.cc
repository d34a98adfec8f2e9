// The file store on a FaultInjectionEnv, beside the SIGKILL test
// (file_backend_kill_test.cc): a simulated power cut at every point of a run
// of puts, then a reopen. No acknowledged chunk may be lost, and no chunk may
// ever be served torn: get returns the exact bytes put, or NotFound. Injected
// fsync, rename, directory sync and ENOSPC failures make the put fail with a
// Status naming the chunk and the cause, and leave nothing half-written.
#include <gtest/gtest.h>

#include <set>

#include "fault_injection_env.h"
#include "kvforge/store/registry.h"
#include "temp_dir.h"

namespace kvforge::store {
namespace {

ChunkKey key_of(int i) { return chunk_key(42, nullptr, std::vector<int32_t>{i}); }

// Content tied to i, a few kilobytes, so a byte budget can land mid-chunk.
std::string blob_of(int i) {
  std::string s(3000 + static_cast<size_t>(i) * 97, '\0');
  for (size_t j = 0; j < s.size(); ++j) s[j] = static_cast<char>((j * 31 + static_cast<size_t>(i) * 7) & 0xff);
  return s;
}

std::unique_ptr<Backend> open_on(core::Env* env, const std::string& dir, const std::string& query = "") {
  auto b = open_backend("file://" + dir + (query.empty() ? "" : "?" + query), env);
  EXPECT_TRUE(b.ok()) << b.status().to_string();
  return b.ok() ? std::move(*b) : nullptr;
}

// After the restart: every acknowledged chunk whole, every other one whole or
// absent, whatever the index lists readable, no temp file left.
void expect_whole(Backend& b, const std::set<int>& acked, int tried, const std::string& dir) {
  for (int i = 0; i < tried; ++i) {
    auto got = b.get(key_of(i));
    if (acked.count(i)) {
      ASSERT_TRUE(got.ok()) << "acknowledged chunk " << i << " lost: " << got.status().to_string();
    } else if (!got.ok()) {
      ASSERT_TRUE(got.status().is_not_found()) << i << ": " << got.status().to_string();
      continue;
    }
    ASSERT_EQ(*got, blob_of(i)) << "chunk " << i << " served torn";
  }
  const auto listed = b.list();
  ASSERT_TRUE(listed.ok());
  for (const EntryInfo& e : *listed) EXPECT_TRUE(b.peek(e.key).ok()) << e.key.hex();
  const auto names = core::Env::Default()->list_dir(dir);
  ASSERT_TRUE(names.ok());
  for (const std::string& name : *names) {
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << "left behind: " << name;
  }
}

enum class CrashBy { kOps, kBytes };

// Three chunks put and acknowledged, then three more with a crash armed at
// `point`; then the power cut and a reopen on the same (revived) Env.
void crash_and_check(CrashBy by, int64_t point, const std::string& query) {
  testing::TempDir tmp;
  const std::string dir = tmp.path() + "/store";
  testing::FaultInjectionEnv env;
  std::set<int> acked;
  {
    auto b = open_on(&env, dir, query);
    ASSERT_NE(b, nullptr);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(b->put(key_of(i), blob_of(i)).ok());
      acked.insert(i);
    }
    if (by == CrashBy::kOps) env.crash_after_ops(point);
    if (by == CrashBy::kBytes) env.crash_after_bytes(point);
    for (int i = 3; i < 6; ++i) {
      const Status s = b->put(key_of(i), blob_of(i));
      if (!s.ok()) {
        EXPECT_TRUE(env.crashed()) << s.to_string();
        break;
      }
      acked.insert(i);
    }
    ASSERT_TRUE(env.simulate_crash().ok());
  }
  auto b = open_on(&env, dir, query);
  ASSERT_NE(b, nullptr);
  if (!query.empty()) acked = {*acked.rbegin()};  // evictions may take older ones; never the newest
  expect_whole(*b, acked, 6, dir);
}

TEST(FileBackendFaults, CrashAtEveryOperationLosesNothingAcknowledged) {
  // A put is create, write, fsync, close, rename, directory fsync: 6 calls.
  for (int64_t point = 0; point <= 20; ++point) {
    SCOPED_TRACE(::testing::Message() << "crash after " << point << " operations");
    crash_and_check(CrashBy::kOps, point, "");
  }
}

TEST(FileBackendFaults, TornWritesAreNeverServed) {
  for (int64_t point = 0; point <= 10000; point += 700) {
    SCOPED_TRACE(::testing::Message() << "crash after " << point << " bytes");
    crash_and_check(CrashBy::kBytes, point, "");
  }
}

TEST(FileBackendFaults, CrashDuringEvictionKeepsChunksWhole) {
  // Room for two chunks: each put from the third on deletes the oldest.
  for (int64_t point = 0; point <= 24; ++point) {
    SCOPED_TRACE(::testing::Message() << "crash after " << point << " operations");
    crash_and_check(CrashBy::kOps, point, "capacity=7000");
  }
}

struct Fault {
  const char* name;
  void (*arm)(testing::FaultInjectionEnv&);
  const char* says;
};

TEST(FileBackendFaults, InjectedFailuresFailThePutByName) {
  const Fault faults[] = {
      {"fsync", [](testing::FaultInjectionEnv& e) { e.set_fail_sync(true); }, "injected fsync failure"},
      {"rename", [](testing::FaultInjectionEnv& e) { e.set_fail_rename(true); }, "injected rename failure"},
      {"enospc", [](testing::FaultInjectionEnv& e) { e.set_space_left(1000); }, "No space left on device"},
      {"dir fsync", [](testing::FaultInjectionEnv& e) { e.set_fail_dir_sync(true); }, "fsync directory"},
  };
  for (const Fault& f : faults) {
    SCOPED_TRACE(f.name);
    testing::TempDir tmp;
    const std::string dir = tmp.path() + "/store";
    testing::FaultInjectionEnv env;
    auto b = open_on(&env, dir);
    ASSERT_NE(b, nullptr);
    ASSERT_TRUE(b->put(key_of(0), blob_of(0)).ok());
    f.arm(env);
    const Status s = b->put(key_of(1), blob_of(1));
    ASSERT_TRUE(s.is_io_error()) << s.to_string();
    EXPECT_NE(s.message().find("store: cannot put chunk " + key_of(1).hex()), std::string::npos) << s.to_string();
    EXPECT_NE(s.message().find(f.says), std::string::npos) << s.to_string();
    EXPECT_FALSE(*b->contains(key_of(1))) << "a failed put is not counted";
    EXPECT_EQ(b->stats()->bytes, blob_of(0).size());
    // A failed directory sync leaves the renamed file: served whole, or gone after a crash.
    auto got = b->get(key_of(1));
    if (got.ok()) {
      EXPECT_EQ(*got, blob_of(1));
    }
    ASSERT_TRUE(env.simulate_crash().ok());  // also clears the fault
    auto reopened = open_on(&env, dir);
    ASSERT_NE(reopened, nullptr);
    expect_whole(*reopened, {0}, 2, dir);
    EXPECT_FALSE(*reopened->contains(key_of(1)));
    ASSERT_TRUE(reopened->put(key_of(1), blob_of(1)).ok()) << "works again once the fault is gone";
  }
}

}  // namespace
}  // namespace kvforge::store

// The crash model of FaultInjectionEnv itself: what a simulated power cut
// keeps (synced data, synced directory entries) and what it takes back.
#include "fault_injection_env.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace kvforge::testing {
namespace {

using core::Env;

struct Fixture {
  TempDir dir;
  FaultInjectionEnv env;
  std::string at(const std::string& name) const { return dir.path() + "/" + name; }
  std::string disk(const std::string& name) const {
    auto r = Env::Default()->read_file(at(name));
    return r.ok() ? *r : "<absent>";
  }
};

// Writes `synced` then `unsynced` to a new file, syncing in between.
void write(FaultInjectionEnv& env, const std::string& path, const std::string& synced, const std::string& unsynced) {
  auto f = env.new_writable_file(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append(synced).ok());
  ASSERT_TRUE((*f)->sync().ok());
  ASSERT_TRUE((*f)->append(unsynced).ok());
  ASSERT_TRUE((*f)->close().ok());
}

TEST(FaultInjectionEnv, DropsUnsyncedDataKeepsSynced) {
  Fixture x;
  write(x.env, x.at("a"), "durable", "+lost");
  ASSERT_TRUE(x.env.sync_dir(x.dir.path()).ok());
  EXPECT_EQ(x.disk("a"), "durable+lost") << "the page cache holds it until the crash";
  ASSERT_TRUE(x.env.drop_unsynced_data().ok());
  EXPECT_EQ(x.disk("a"), "durable");
}

TEST(FaultInjectionEnv, CrashRemovesEntriesCreatedSinceTheDirectorySync) {
  Fixture x;
  write(x.env, x.at("kept"), "k", "");
  ASSERT_TRUE(x.env.sync_dir(x.dir.path()).ok());
  write(x.env, x.at("new"), "n", "");  // synced data, unsynced entry
  ASSERT_TRUE(x.env.simulate_crash().ok());
  EXPECT_EQ(x.disk("kept"), "k");
  EXPECT_EQ(x.disk("new"), "<absent>");
}

TEST(FaultInjectionEnv, UnsyncedRenameAndRemoveRevert) {
  Fixture x;
  write(x.env, x.at("target"), "old", "");
  write(x.env, x.at("gone"), "still here", "");
  ASSERT_TRUE(x.env.sync_dir(x.dir.path()).ok());
  write(x.env, x.at("tmp"), "new", "");
  ASSERT_TRUE(x.env.rename_file(x.at("tmp"), x.at("target")).ok());
  ASSERT_TRUE(x.env.remove_file(x.at("gone")).ok());
  EXPECT_EQ(x.disk("target"), "new");
  ASSERT_TRUE(x.env.simulate_crash().ok());
  EXPECT_EQ(x.disk("target"), "old");
  EXPECT_EQ(x.disk("tmp"), "<absent>") << "created after the last directory sync";
  EXPECT_EQ(x.disk("gone"), "still here");
}

TEST(FaultInjectionEnv, SyncedRenameSurvives) {
  Fixture x;
  write(x.env, x.at("target"), "old", "");
  write(x.env, x.at("tmp"), "new", "");
  ASSERT_TRUE(x.env.rename_file(x.at("tmp"), x.at("target")).ok());
  ASSERT_TRUE(x.env.sync_dir(x.dir.path() + "/").ok()) << "spelled differently, same directory";
  ASSERT_TRUE(x.env.simulate_crash().ok());
  EXPECT_EQ(x.disk("target"), "new");
}

TEST(FaultInjectionEnv, TornWriteThenDeadUntilTheCrash) {
  Fixture x;
  auto f = x.env.new_writable_file(x.at("a"));
  ASSERT_TRUE(f.ok());
  x.env.crash_after_bytes(3);
  const core::Status s = (*f)->append("abcdef");
  EXPECT_TRUE(s.is_io_error());
  EXPECT_NE(s.message().find("injected crash"), std::string::npos) << s.to_string();
  EXPECT_TRUE(x.env.crashed());
  EXPECT_EQ(x.disk("a"), "abc") << "only the prefix reached the file";
  EXPECT_FALSE((*f)->sync().ok());
  EXPECT_FALSE(x.env.read_file(x.at("a")).ok());
  ASSERT_TRUE(x.env.simulate_crash().ok());
  EXPECT_FALSE(x.env.crashed());
  EXPECT_EQ(x.disk("a"), "<absent>");
  EXPECT_FALSE((*f)->append("x").ok()) << "a handle from before the crash stays dead";
}

TEST(FaultInjectionEnv, NoSpaceWritesWhatFits) {
  Fixture x;
  x.env.set_space_left(4);
  auto f = x.env.new_writable_file(x.at("a"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append("ab").ok());
  const core::Status s = (*f)->append("cdef");
  EXPECT_TRUE(s.is_io_error());
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos) << s.to_string();
  EXPECT_FALSE(x.env.crashed());
  EXPECT_EQ(x.disk("a"), "abcd");
}

TEST(FaultInjectionEnv, CrashAfterOpsCountsMutatingCalls) {
  Fixture x;
  x.env.crash_after_ops(2);  // create, append; then the sync is the crash
  auto f = x.env.new_writable_file(x.at("a"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append("abc").ok());
  EXPECT_FALSE((*f)->sync().ok());
  EXPECT_TRUE(x.env.crashed());
  EXPECT_EQ(x.env.ops(), 3);
}

}  // namespace
}  // namespace kvforge::testing

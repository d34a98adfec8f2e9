// The POSIX Env's file operations and clocks, and the virtual clock.
#include "kvforge/core/env.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "temp_dir.h"

namespace kvforge::core {
namespace {

Status write_whole(Env* env, const std::string& path, std::string_view data) {
  KVF_ASSIGN_OR_RETURN(auto f, env->new_writable_file(path));
  KVF_RETURN_IF_ERROR(f->append(data));
  KVF_RETURN_IF_ERROR(f->sync());
  return f->close();
}

TEST(PosixEnv, FilesRoundTrip) {
  testing::TempDir dir;
  Env* env = Env::Default();
  const std::string sub = dir.path() + "/a/b";
  ASSERT_TRUE(env->create_dir(sub).ok());
  ASSERT_TRUE(env->create_dir(sub).ok()) << "an existing directory is fine";
  const std::string p = sub + "/x";
  ASSERT_TRUE(write_whole(env, p, "hello").ok());
  EXPECT_EQ(*env->read_file(p), "hello");
  ASSERT_TRUE(write_whole(env, p, "hi").ok());
  EXPECT_EQ(*env->read_file(p), "hi") << "new_writable_file truncates";

  auto info = env->file_info(p);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 2u);
  EXPECT_TRUE(info->regular);
  EXPECT_FALSE(env->file_info(sub)->regular);
  ASSERT_TRUE(env->set_mtime_micros(p, 1234567890123456).ok());
  EXPECT_EQ(env->file_info(p)->mtime_micros, 1234567890123456);

  ASSERT_TRUE(env->rename_file(p, sub + "/y").ok());
  ASSERT_TRUE(env->sync_dir(sub).ok());
  auto names = env->list_dir(sub);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"y"});
  ASSERT_TRUE(env->remove_file(sub + "/y").ok());
  EXPECT_TRUE(env->list_dir(sub)->empty());
}

TEST(PosixEnv, ErrorsNameThePathAndMapENOENT) {
  testing::TempDir dir;
  Env* env = Env::Default();
  const std::string missing = dir.path() + "/missing";
  for (const Status& s : {env->read_file(missing).status(), env->remove_file(missing),
                          env->rename_file(missing, missing + "2"), env->file_info(missing).status(),
                          env->list_dir(missing).status()}) {
    EXPECT_TRUE(s.is_not_found()) << s.to_string();
    EXPECT_NE(s.message().find(missing), std::string::npos) << s.to_string();
  }
  const Status no_dir = env->new_writable_file(dir.path() + "/no/such/dir/f").status();
  EXPECT_FALSE(no_dir.ok());
  EXPECT_NE(no_dir.message().find("/no/such/dir/f"), std::string::npos) << no_dir.to_string();
}

TEST(PosixEnv, ClocksMove) {
  Env* env = Env::Default();
  EXPECT_FALSE(env->is_virtual());
  const double t0 = env->now_seconds();
  env->sleep_until(t0 + 0.002);
  EXPECT_GE(env->now_seconds(), t0 + 0.002);
  // Wall-clock microseconds since the epoch: some time after 2020.
  EXPECT_GT(env->now_micros(), int64_t{1577836800} * 1000000);
}

TEST(VirtualClock, AdvancesOnlyBySleeping) {
  VirtualClock c(10);
  EXPECT_TRUE(c.is_virtual());
  EXPECT_EQ(c.now_seconds(), 10);
  EXPECT_EQ(c.now_micros(), 10000000);
  c.sleep_until(5);  // the past: no change
  EXPECT_EQ(c.now_seconds(), 10);
  c.advance(2.5);
  EXPECT_EQ(c.now_seconds(), 12.5);
  EXPECT_EQ(c.now_micros(), 12500000);
}

// A wrapper that overrides one call and forwards the rest.
TEST(EnvWrapper, ForwardsWhatItDoesNotOverride) {
  struct NoRemove final : EnvWrapper {
    using EnvWrapper::EnvWrapper;
    Status remove_file(const std::string& path) override { return Status::IOError("no remove of " + path); }
  };
  testing::TempDir dir;
  NoRemove env(Env::Default());
  const std::string p = dir.path() + "/f";
  ASSERT_TRUE(write_whole(&env, p, "abc").ok());
  EXPECT_EQ(*env.read_file(p), "abc");
  EXPECT_TRUE(env.remove_file(p).is_io_error());
  EXPECT_EQ(*Env::Default()->read_file(p), "abc");
}

}  // namespace
}  // namespace kvforge::core

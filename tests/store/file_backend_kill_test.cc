// A writer killed with SIGKILL in the middle of writing: after a reopen the
// file store holds every chunk whose put was acknowledged, each one whole, and
// no half-written file is ever served. The writer is a forked child that
// reports each acknowledged key through a pipe, so the parent knows exactly
// what was promised before the kill.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "kvforge/store/registry.h"
#include "temp_dir.h"

namespace kvforge::store {
namespace {

ChunkKey key_of(int i) { return chunk_key(42, nullptr, std::vector<int32_t>{i}); }

// Large enough that a kill often lands inside a write; content tied to i.
std::string blob_of(int i) {
  std::string s(256 * 1024 + static_cast<size_t>(i) * 97, '\0');
  for (size_t j = 0; j < s.size(); ++j) s[j] = static_cast<char>((j * 31 + static_cast<size_t>(i) * 7) & 0xff);
  return s;
}

[[noreturn]] void writer(const std::string& url, int ack_fd) {
  auto b = open_backend(url);
  if (!b.ok()) _exit(2);
  for (int i = 0;; ++i) {
    if (!(*b)->put(key_of(i), blob_of(i)).ok()) _exit(3);
    if (write(ack_fd, &i, sizeof(i)) != sizeof(i)) _exit(4);
  }
}

TEST(FileBackend, KillDuringWritesLosesNothingAcknowledged) {
  testing::TempDir dir;
  const std::string url = "file://" + dir.path() + "/store";
  int total_acked = 0;
  for (int round = 0; round < 3; ++round) {  // kill at three different moments
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      writer(url, fds[1]);
    }
    close(fds[1]);
    int acked = -1, i = 0;
    const int want = 5 + 4 * round;
    while (acked + 1 < want && read(fds[0], &i, sizeof(i)) == sizeof(i)) acked = i;
    ASSERT_EQ(acked + 1, want) << "the writer stopped early";
    std::this_thread::sleep_for(std::chrono::microseconds(300 * round));  // land mid-write
    kill(pid, SIGKILL);
    while (read(fds[0], &i, sizeof(i)) == sizeof(i)) acked = i;  // acks sent before the kill
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));

    auto b = open_backend(url);  // index rebuilt from disk, leftovers of the dead writer deleted
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    for (int k = 0; k <= acked; ++k) {
      auto got = (*b)->get(key_of(k));
      ASSERT_TRUE(got.ok()) << "acknowledged chunk " << k << " lost: " << got.status().to_string();
      ASSERT_EQ(*got, blob_of(k)) << "chunk " << k << " is not whole";
    }
    // Whatever else is there (a put that finished but was not acknowledged) is whole too.
    const auto listed = (*b)->list();
    ASSERT_TRUE(listed.ok());
    for (const EntryInfo& e : *listed) {
      for (int k = 0; k <= acked + 2; ++k) {
        if (e.key == key_of(k)) {
          EXPECT_EQ(*(*b)->peek(e.key), blob_of(k)) << k;
        }
      }
    }
    total_acked += acked + 1;
  }
  EXPECT_GT(total_acked, 0);
}

}  // namespace
}  // namespace kvforge::store

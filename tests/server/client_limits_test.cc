// StoreClient's per-request bounds (ResponseLimits) against servers that hang,
// drip or stream garbage, and on a healthy server.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "server/misbehaving_server.h"
#include "server/server_fixture.h"
#include "store/synthetic_chunk.h"

namespace kvforge::server {
namespace {

using testing::MisbehavingServer;
using testing::Misbehavior;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::unique_ptr<StoreClient> client_of(const MisbehavingServer& s) {
  auto c = StoreClient::make(s.url());  // the default 30 s socket timeout
  KVF_CHECK(c.ok());
  return std::move(*c);
}

const store::ChunkKey kKey{1, 2};

TEST(ClientLimits, SilentServerIsAbandonedAtTheTimeLimit) {
  MisbehavingServer silent(Misbehavior::kSilent);
  auto client = client_of(silent);
  const std::vector<store::ChunkKey> keys = {kKey};
  ResponseLimits limits;
  limits.timeout_seconds = 0.3;
  auto t0 = std::chrono::steady_clock::now();
  const Status lookup = client->lookup(keys, limits).status();
  EXPECT_LT(seconds_since(t0), 2.0);  // not the 30 s socket timeout (twice: the retry)
  EXPECT_TRUE(lookup.is_io_error()) << lookup.to_string();
  EXPECT_NE(lookup.message().find("within the 300 ms allowed"), std::string::npos) << lookup.to_string();
  t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(client->fetch_level(kKey, "q8", limits).status().is_io_error());
  EXPECT_LT(seconds_since(t0), 2.0);
  limits.timeout_seconds = 0;  // no time left: no request
  EXPECT_TRUE(client->fetch_level(kKey, "q8", limits).status().is_io_error());
}

TEST(ClientLimits, DripIsAbandonedAtTheTimeLimitOrByProgress) {
  MisbehavingServer drip(Misbehavior::kDrip);
  auto client = client_of(drip);
  ResponseLimits limits;
  limits.timeout_seconds = 0.5;
  auto t0 = std::chrono::steady_clock::now();
  const Status timed = client->fetch_level(kKey, "q8", limits).status();
  const double took = seconds_since(t0);
  EXPECT_TRUE(timed.is_io_error()) << timed.to_string();
  EXPECT_GE(took, 0.45);  // the bytes kept coming: only the time limit ended it
  EXPECT_LT(took, 2.5);

  // The caller's progress rule ends it sooner, with the caller's status.
  std::vector<uint64_t> seen;
  limits.timeout_seconds = 10;
  limits.progress = [&](uint64_t bytes, double seconds) {
    seen.push_back(bytes);
    return seconds < 0.35 ? Status::OK() : Status::IOError("too slow for the test");
  };
  t0 = std::chrono::steady_clock::now();
  const Status slow = client->fetch_level(kKey, "q8", limits).status();
  EXPECT_LT(seconds_since(t0), 2.0);
  EXPECT_TRUE(slow.is_io_error());
  EXPECT_NE(slow.message().find("too slow for the test"), std::string::npos) << slow.to_string();
  EXPECT_NE(slow.message().find(drip.url()), std::string::npos) << slow.to_string();
  ASSERT_GE(seen.size(), 3u);
  EXPECT_GT(seen.back(), 0u);
}

TEST(ClientLimits, EndlessGarbageStopsAtTheCap) {
  MisbehavingServer garbage(Misbehavior::kGarbage);
  auto client = client_of(garbage);
  ResponseLimits limits;
  limits.max_bytes = 100000;
  const Status s = client->fetch_level(kKey, "q8", limits).status();
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
  EXPECT_NE(s.message().find(garbage.url()), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("cap of 100000 bytes"), std::string::npos) << s.to_string();
  EXPECT_LE(client->bytes_received(), 100000u);

  // A Content-Length over the cap is refused before any body is read.
  MisbehavingServer huge(Misbehavior::kHugeLength);
  auto other = client_of(huge);
  EXPECT_EQ(other->fetch_chunk(kKey, limits).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(other->bytes_received(), 0u);
}

TEST(ClientLimits, BoundsLeaveAHealthyServerAlone) {
  auto r = testing::start();
  const store::StoredChunk c = store::testdata::synthetic_chunk();
  ASSERT_TRUE(r.client->put(c).ok());
  const std::string& want = c.find("q8")->frame;
  ResponseLimits limits;
  limits.timeout_seconds = 10;
  limits.max_bytes = want.size();
  limits.progress = [](uint64_t, double) { return Status::OK(); };
  auto f = r.client->fetch_level(c.key, "q8", limits);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->bytes, want);
  limits.max_bytes = want.size() - 1;  // one byte short
  EXPECT_EQ(r.client->fetch_level(c.key, "q8", limits).status().code(), StatusCode::kResourceExhausted);
  // The cut connection was dropped, not pooled: the next request is whole.
  auto again = r.client->fetch_level(c.key, "q8");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->bytes, want);
  EXPECT_TRUE(r.client->fetch_level(store::ChunkKey{9, 9}, "q8", limits).status().is_not_found());
}

}  // namespace
}  // namespace kvforge::server

// The loader's bounds (loader.h): over HTTP against servers that never answer,
// hang on chunks, drip or stream garbage, the load ends within the deadline
// plus one recompute of the context, with the full recompute's answer; and the
// slow-transfer rule itself.
#include <gtest/gtest.h>

#include "kvforge/server/client.h"
#include "server/misbehaving_server.h"
#include "stream/fetch_bounds.h"
#include "stream/loader_fixture.h"

namespace kvforge::stream {
namespace {

using namespace loader_testing;  // NOLINT: the fixture is this file's vocabulary
using server::testing::MisbehavingServer;
using server::testing::Misbehavior;

// Chunks are fetched while the source looks healthy: recompute is predicted at
// 3.2 s a chunk (it takes milliseconds), a fetch at 100 MB/s at about one.
LoadOptions adaptive(double deadline) {
  LoadOptions o = options("adaptive", deadline);
  o.planner.prefill_seconds_per_token = 0.05;
  return o;
}

struct HttpLoad {
  LoadReport report;
  uint64_t client_bytes = 0;
};

HttpLoad load_from(const MisbehavingServer& s, const LoadOptions& o) {
  auto client = server::StoreClient::make(s.url());  // the default 30 s socket timeout
  KVF_CHECK(client.ok());
  ClientSource<server::StoreClient> source(**client);
  HttpLoad run;
  run.report = load(source, o);
  run.client_bytes = (*client)->bytes_received();
  return run;
}

const std::vector<float>& recompute_logits() {
  static const std::vector<float> logits = [] {
    BackendSource inner(*fixture().backend);
    return load(inner, options("recompute")).logits;
  }();
  return logits;
}

// Every chunk recomputed, and so the answer of a full recompute, bit for bit.
void expect_full_recompute(const LoadReport& r) {
  for (const ChunkLog& c : r.chunks) EXPECT_EQ(c.choice, "recompute") << c.index << ": " << c.note;
  EXPECT_EQ(r.recomputed_chunks, 5u);
  EXPECT_EQ(r.logits, recompute_logits());
}

TEST(LoaderBounds, SilentServerCostsTheDeadlineThenARecompute) {
  MisbehavingServer silent(Misbehavior::kSilent);
  const HttpLoad r = load_from(silent, adaptive(1.0));
  EXPECT_LT(r.report.ttft_seconds, 1.0 + 5);  // was 60 s: two 30 s lookup timeouts
  EXPECT_EQ(r.report.deadline_chunks, 5u);
  EXPECT_EQ(r.report.chunks[0].note.rfind("deadline: ", 0), 0u) << r.report.chunks[0].note;
  expect_full_recompute(r.report);
}

TEST(LoaderBounds, FetchHangingAtTheDeadlineIsAbandoned) {
  MisbehavingServer hang(Misbehavior::kHang);
  LoadOptions o = adaptive(1.0);
  o.slow_grace_seconds = 60;  // the deadline, not the slow rule, ends it
  const HttpLoad r = load_from(hang, o);
  EXPECT_EQ(r.report.stored_chunks, 5u);
  EXPECT_GE(r.report.ttft_seconds, 1.0);
  EXPECT_LT(r.report.ttft_seconds, 1.0 + 5);  // was minutes: 30 s per read, twice per chunk
  EXPECT_NEAR(r.report.chunks[0].fetch_ms, 1000, 500);
  EXPECT_EQ(r.report.chunks[0].note.rfind("deadline: ", 0), 0u) << r.report.chunks[0].note;
  for (size_t i = 1; i < 5; ++i) EXPECT_EQ(r.report.chunks[i].note, "deadline") << i;
  EXPECT_EQ(r.report.deadline_chunks, 5u);
  EXPECT_FALSE(r.report.deadline_met);
  expect_full_recompute(r.report);
}

TEST(LoaderBounds, DrippingServerIsAbandonedAsTooSlow) {
  MisbehavingServer drip(Misbehavior::kDrip);
  const HttpLoad r = load_from(drip, adaptive(30.0));
  EXPECT_LT(r.report.ttft_seconds, 5.0);  // the rule ends it, long before the deadline
  EXPECT_EQ(r.report.chunks[0].note.rfind("too slow: ", 0), 0u) << r.report.chunks[0].note;
  EXPECT_EQ(r.report.too_slow_chunks, 1u);
  // The estimate learned the drip: the rest are planned as recompute.
  for (size_t i = 1; i < 5; ++i) {
    EXPECT_EQ(r.report.chunks[i].note, "planned") << i;
    EXPECT_LT(r.report.chunks[i].bandwidth_mbps, 0.01) << i;
  }
  EXPECT_TRUE(r.report.deadline_met);
  expect_full_recompute(r.report);
}

TEST(LoaderBounds, EndlessGarbageIsCutAtTheFrameCap) {
  MisbehavingServer garbage(Misbehavior::kGarbage);
  const HttpLoad r = load_from(garbage, adaptive(30.0));
  EXPECT_LT(r.report.ttft_seconds, 5.0);
  EXPECT_EQ(r.report.too_large_chunks, 5u);
  for (const ChunkLog& c : r.report.chunks) EXPECT_EQ(c.note.rfind("too large: ", 0), 0u) << c.note;
  expect_full_recompute(r.report);
  // Memory stays bounded: the client accepted at most each chunk's largest
  // frame (and the lookup's answer) of the endless stream.
  uint64_t bound = 64 << 10;
  const size_t n = fixture().tokens.size();
  for (size_t begin = 0; begin < n; begin += kChunk) {
    uint64_t largest = 0;
    for (const std::string& level : kLevels) {
      auto cap = codec::max_encoded_size(fixture().model->kv_shape(), std::min(kChunk, n - begin), level);
      ASSERT_TRUE(cap.ok());
      largest = std::max<uint64_t>(largest, *cap);
    }
    bound += largest;
  }
  EXPECT_LE(r.client_bytes, bound);
  EXPECT_GT(garbage.bytes_sent(), 0u);
}

TEST(LoaderBounds, SlowRule) {
  // 1 MB/s required; a 1 MB frame; 4 s until the deadline.
  const SlowRule rule{0.5, 1e6, 1e6, 4.0};
  EXPECT_TRUE(check_progress(rule, 0, 0.4).ok());        // within the grace period
  EXPECT_FALSE(check_progress(rule, 0, 0.6).ok());       // silent
  EXPECT_FALSE(check_progress(rule, 500000, 0.6).ok());  // 0.83 MB/s
  EXPECT_TRUE(check_progress(rule, 700000, 0.6).ok());
  // 1.2 MB/s, but 0.28 MB still to come with 0.1 s left.
  const SlowRule tight{0.5, 1e6, 1e6, 0.7};
  EXPECT_FALSE(check_progress(tight, 720000, 0.6).ok());
  EXPECT_TRUE(check_progress(tight, 1000000, 0.6).ok());
}

}  // namespace
}  // namespace kvforge::stream

// The server and its client end to end: real stories260K KV stored, served,
// fetched and decoded bit-identical to local encode + decode; many concurrent
// clients; the link emulation's lower bound.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include "kvforge/eval/codec_eval.h"
#include "kvforge/model/llama.h"
#include "kvforge/store/chunk_encoder.h"
#include "kvforge/store/chunk_io.h"
#include "server/server_fixture.h"
#include "shared_paths.h"
#include "store/synthetic_chunk.h"
#include "temp_dir.h"

namespace kvforge::server {
namespace {

using testing::start;

constexpr size_t kChunkTokens = 96;

TEST(Server, RealKvStoredServedFetchedDecodesAsLocal) {
  model::LoadOptions lo;
  lo.model_path = kvforge::testing::model_dir() + "stories260K.bin";
  lo.tokenizer_path = kvforge::testing::model_dir() + "tok512.bin";
  auto m = model::LlamaModel::load(lo);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const auto lines = kvforge::testing::lines(kvforge::testing::shared("data/tinystories-valid-first1000.txt"));
  std::string text;
  for (int i = 0; i < 3; ++i) text += lines[i] + " ";
  std::vector<int32_t> tokens = (*m)->tokenizer()->encode(text, true);
  tokens.resize(std::min<size_t>(tokens.size(), 2 * kChunkTokens + 30));
  ASSERT_GT(tokens.size(), 2 * kChunkTokens);
  model::Session session(*m, {.n_threads = 2});
  ASSERT_TRUE(session.forward(tokens, model::LogitsMode::kNone, nullptr).ok());

  const uint64_t fp = (*m)->fingerprint();
  const std::vector<std::string> levels = {"fp16", "q8", "cachegen:level=1", "cachegen:level=3", "cachegen:level=5"};
  auto encoder = store::ChunkEncoder::make(levels, fp);
  ASSERT_TRUE(encoder.ok());
  const store::ChunkKeyer keyer(fp, kChunkTokens);
  const std::vector<store::ChunkKey> keys = keyer.keys(tokens);
  ASSERT_EQ(keys.size(), 3u);

  kvforge::testing::TempDir dir;
  auto r = start("file://" + dir.path());
  EXPECT_EQ(*r.client->lookup(keys), 0u);
  for (size_t i = 0; i < keys.size(); ++i) {
    const size_t begin = i * kChunkTokens, end = std::min(tokens.size(), begin + kChunkTokens);
    kv::DenseKvF32 part;
    ASSERT_TRUE(session.cache().export_range(begin, end, &part).ok());
    auto chunk = encoder->encode(keys[i], static_cast<uint32_t>(i), static_cast<uint32_t>(begin),
                                 std::span(tokens).subspan(begin, end - begin), part.view());
    ASSERT_TRUE(chunk.ok());
    ASSERT_TRUE(r.client->put(*chunk).ok());
    if (i == 0) {
      EXPECT_EQ(*r.client->lookup(keys), 1u);
    }
  }
  EXPECT_EQ(*r.client->lookup(keys), keys.size());
  // Acknowledged puts are on disk: a second backend over the directory sees them.
  auto reopened = store::open_backend("file://" + dir.path());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->longest_prefix(keys), keys.size());

  for (size_t i = 0; i < keys.size(); ++i) {
    const size_t begin = i * kChunkTokens, end = std::min(tokens.size(), begin + kChunkTokens);
    auto ids = r.client->fetch_tokens(keys[i]);
    ASSERT_TRUE(ids.ok()) << ids.status().to_string();
    EXPECT_EQ(*ids, std::vector<int32_t>(tokens.begin() + begin, tokens.begin() + end));
    auto whole = r.client->fetch_chunk(keys[i]);
    ASSERT_TRUE(whole.ok());
    ASSERT_TRUE(store::parse_stored(keys[i], whole->bytes).ok());
    kv::DenseKvF32 part;
    ASSERT_TRUE(session.cache().export_range(begin, end, &part).ok());
    for (const std::string& level : levels) {
      auto fetched = r.client->fetch_level(keys[i], level);
      ASSERT_TRUE(fetched.ok()) << fetched.status().to_string();
      EXPECT_EQ(fetched->tokens, end - begin);
      EXPECT_EQ(fetched->first_position, begin);
      auto codec = codec::make_codec(level);
      ASSERT_TRUE(codec.ok());
      auto frame = (*codec)->encode(part.view(),
                                    {.model_fingerprint = fp, .first_position = static_cast<int32_t>(begin)});
      ASSERT_TRUE(frame.ok());
      codec::KvChunk local, served;
      ASSERT_TRUE((*codec)->decode(*frame, &local).ok());
      ASSERT_TRUE((*codec)->decode(fetched->bytes, &served).ok()) << level;
      ASSERT_EQ(served.k.size(), local.k.size());
      EXPECT_EQ(std::memcmp(served.k.data(), local.k.data(), local.k.size() * 4), 0) << level << " chunk " << i;
      EXPECT_EQ(std::memcmp(served.v.data(), local.v.data(), local.v.size() * 4), 0) << level << " chunk " << i;
    }
  }
  // A level spelled another way is the same level; one the chunk lacks is NotFound.
  EXPECT_TRUE(r.client->fetch_level(keys[0], "cachegen:3").ok());
  const Status missing = r.client->fetch_level(keys[0], "q4").status();
  EXPECT_TRUE(missing.is_not_found()) << missing.to_string();
  EXPECT_NE(missing.message().find("has no level q4"), std::string::npos) << missing.message();
  EXPECT_TRUE(r.client->fetch_level(store::ChunkKey{1, 2}, "q8").status().is_not_found());
}

TEST(Server, ConcurrentClientsGetTheirOwnBytes) {
  auto r = start();
  std::vector<store::StoredChunk> chunks;
  for (uint32_t i = 0; i < 8; ++i) {
    chunks.push_back(store::testdata::synthetic_chunk(i, 16 + 8 * i, {"fp16", "q8", "cachegen:level=2"}));
    ASSERT_TRUE(r.client->put(chunks.back()).ok());
  }
  std::vector<store::ChunkKey> keys;
  for (const auto& c : chunks) keys.push_back(c.key);
  constexpr int kThreads = 16, kRequests = 50;
  std::atomic<int> errors{0}, mismatches{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(t));
      for (int i = 0; i < kRequests; ++i) {
        const auto& c = chunks[rng() % chunks.size()];
        const auto& level = c.levels[rng() % c.levels.size()];
        if (i % 10 == 9) {
          auto n = r.client->lookup(keys);
          if (!n.ok()) ++errors;
          else if (*n != keys.size()) ++mismatches;
        } else {
          auto f = r.client->fetch_level(c.key, level.level);
          if (!f.ok()) ++errors;
          else if (f->bytes != level.frame || f->tokens != c.tokens.size()) ++mismatches;
        }
        ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(done.load(), kThreads * kRequests);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Server, ThrottledFetchTakesAtLeastBytesOverBandwidth) {
  ServerOptions options;
  constexpr double kMbps = 40;  // 5 MB/s
  options.bandwidth = constant_mbps(kMbps);
  auto r = start("mem://", options);
  const store::StoredChunk c = store::testdata::synthetic_chunk(1, 2048, {"fp16"});
  ASSERT_TRUE(r.client->put(c).ok());
  auto f = r.client->fetch_level(c.key, "fp16");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->bytes, c.levels[0].frame);
  const double bound = static_cast<double>(f->bytes.size()) / (kMbps * 1e6 / 8);
  EXPECT_GT(f->bytes.size(), 100000u);
  EXPECT_GE(f->seconds, 0.99 * bound) << f->bytes.size() << " bytes";
  // Unthrottled again: still correct (no timing asserted).
  r.server->set_bandwidth({});
  auto g = r.client->fetch_level(c.key, "fp16");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->bytes, c.levels[0].frame);
}

TEST(Server, StopsWithClientsConnectedAndRefusesAfterwards) {
  auto r = start();
  const store::StoredChunk c = store::testdata::synthetic_chunk();
  ASSERT_TRUE(r.client->put(c).ok());
  ASSERT_TRUE(r.client->fetch_level(c.key, "q8").ok());  // a kept-alive connection
  r.server->stop();
  r.server->stop();  // idempotent
  const Status s = r.client->fetch_level(c.key, "q8").status();
  EXPECT_TRUE(s.is_io_error()) << s.to_string();
  EXPECT_NE(s.message().find(r.client->url()), std::string::npos) << s.message();
}

TEST(StoreClient, RefusesMalformedUrls) {
  for (const char* url : {"", "127.0.0.1:80", "https://h:1", "http://h", "http://h:0", "http://h:99999", "http://h:1/x",
                          "http://:80", "http://h:8a"})
    EXPECT_TRUE(StoreClient::make(url).status().is_invalid_argument()) << url;
  auto ok = StoreClient::make("http://127.0.0.1:8080/");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->url(), "http://127.0.0.1:8080");
}

TEST(StoreClient, UnreachableServerIsIOErrorNamingTheUrl) {
  // Bind then stop a server to get a port nobody listens on.
  int port = 0;
  {
    auto r = start();
    port = r.server->port();
  }
  auto c = StoreClient::make("http://127.0.0.1:" + std::to_string(port), {.token = "", .connect_timeout_ms = 500, .timeout_ms = 500});
  ASSERT_TRUE(c.ok());
  const std::vector<store::ChunkKey> keys = {store::ChunkKey{1, 2}};
  const Status s = (*c)->lookup(keys).status();
  EXPECT_TRUE(s.is_io_error()) << s.to_string();
  EXPECT_NE(s.message().find("POST /v1/lookup at http://127.0.0.1:" + std::to_string(port)), std::string::npos)
      << s.message();
  // The URL once per message, whatever the route.
  const auto occurrences = [](const std::string& text, const std::string& part) {
    size_t n = 0;
    for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
    return n;
  };
  const std::string url = (*c)->url();
  const store::ChunkKey key{1, 2};
  for (const Status& e : {s, (*c)->fetch_level(key, "q8").status(), (*c)->fetch_chunk(key).status(),
                          (*c)->fetch_tokens(key).status(), (*c)->put(key, "bytes")}) {
    EXPECT_TRUE(e.is_io_error()) << e.to_string();
    EXPECT_EQ(occurrences(e.message(), url), 1u) << e.message();
  }
}

}  // namespace
}  // namespace kvforge::server

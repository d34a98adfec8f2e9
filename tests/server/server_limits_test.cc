// What the server refuses and how it reports: auth, oversized and malformed
// requests, unknown routes, damaged stored chunks; and its /metrics.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kvforge/store/chunk_io.h"
#include "server/server_fixture.h"
#include "store/synthetic_chunk.h"
#include "temp_dir.h"

namespace kvforge::server {
namespace {

using testing::metric;
using testing::raw;
using testing::start;

std::string error_code(const httplib::Result& r) {
  if (!r) return "(no response)";
  const auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("code")) return "(not a JSON error: " + r->body + ")";
  return j["code"].get<std::string>();
}

TEST(ServerLimits, BearerTokenOnEveryRoute) {
  ServerOptions options;
  options.token = "s3cret";
  auto r = start("mem://", options, {.token = "s3cret", .connect_timeout_ms = 3000, .timeout_ms = 30000});
  const store::StoredChunk c = store::testdata::synthetic_chunk();
  ASSERT_TRUE(r.client->put(c).ok());
  ASSERT_TRUE(r.client->fetch_level(c.key, "q8").ok());

  auto http = raw(*r.server);
  const std::string path = "/v1/chunk/" + c.key.hex();
  for (const httplib::Headers& h : {httplib::Headers{}, httplib::Headers{{"Authorization", "Bearer wrong"}},
                                     httplib::Headers{{"Authorization", "Bearer s3cret2"}},
                                     httplib::Headers{{"Authorization", "s3cret"}}}) {
    auto get = http.Get(path + "?level=q8", h);
    ASSERT_TRUE(get);
    EXPECT_EQ(get->status, 401);
    EXPECT_EQ(error_code(get), "unauthorized");
    EXPECT_EQ(http.Get("/metrics", h)->status, 401);
    EXPECT_EQ(http.Post("/v1/lookup", h, R"({"keys":[]})", "application/json")->status, 401);
    EXPECT_EQ(http.Put(path, h, "x", "application/octet-stream")->status, 401);
  }
  const httplib::Headers right = {{"Authorization", "Bearer s3cret"}};
  EXPECT_EQ(http.Get(path + "?level=q8", right)->status, 200);
  EXPECT_EQ(http.Get("/metrics", right)->status, 200);

  auto anonymous = StoreClient::make(r.server->url());
  const Status refused = (*anonymous)->fetch_level(c.key, "q8").status();
  EXPECT_TRUE(refused.is_invalid_argument()) << refused.to_string();
  EXPECT_NE(refused.message().find("401"), std::string::npos);
}

TEST(ServerLimits, BadRequestsGet4xxAndTheServerKeepsServing) {
  ServerOptions options;
  options.max_body_bytes = 64 << 10;
  auto r = start("mem://", options);
  const store::StoredChunk c = store::testdata::synthetic_chunk();
  ASSERT_TRUE(r.client->put(c).ok());
  auto http = raw(*r.server);
  const std::string path = "/v1/chunk/" + c.key.hex();

  // Oversized body: 413, by the client too.
  const std::string big(100 << 10, 'x');
  auto put = http.Put(path, big, "application/octet-stream");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 413);
  EXPECT_EQ(r.client->put(c.key, big).code(), StatusCode::kResourceExhausted);
  auto lookup_big = http.Post("/v1/lookup", big, "application/json");
  ASSERT_TRUE(lookup_big);
  EXPECT_EQ(lookup_big->status, 413);

  // Malformed keys, JSON, levels, containers: 400 with a JSON error.
  for (const std::string& p : {std::string("/v1/chunk/xyz?level=q8"), std::string("/v1/chunk/") + std::string(31, 'a'),
                               std::string("/v1/chunk/") + std::string(33, 'a') + "/tokens",
                               path + "?level=nope", path + "?level=cachegen:level=99", path + "?level="}) {
    auto g = http.Get(p);
    ASSERT_TRUE(g) << p;
    EXPECT_EQ(g->status, 400) << p;
    EXPECT_EQ(error_code(g), "invalid_argument") << p;
  }
  for (const std::string& body : {std::string("not json"), std::string("[]"), std::string(R"({"keys":"x"})"),
                                  std::string(R"({"keys":[1]})"), std::string(R"({"keys":["zz"]})"), std::string("{"),
                                  std::string(R"({"nokeys":[]})")}) {
    auto p = http.Post("/v1/lookup", body, "application/json");
    ASSERT_TRUE(p) << body;
    EXPECT_EQ(p->status, 400) << body;
    EXPECT_EQ(error_code(p), "invalid_argument") << body;
  }
  auto garbage = http.Put(path, "garbage", "application/octet-stream");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 400);
  // A container stored under another chunk's key is refused.
  const store::StoredChunk other = store::testdata::synthetic_chunk(2);
  const Status mismatch = r.client->put(other.key, *store::serialize_chunk(c));
  EXPECT_TRUE(mismatch.is_corruption()) << mismatch.to_string();
  EXPECT_TRUE(r.client->fetch_chunk(other.key).status().is_not_found());

  // Unknown routes and methods: 404.
  for (const char* p : {"/", "/v1", "/v2/lookup", "/v1/chunk", "/metrics/x"}) {
    auto g = http.Get(p);
    ASSERT_TRUE(g) << p;
    EXPECT_EQ(g->status, 404) << p;
    EXPECT_EQ(error_code(g), "not_found") << p;
  }
  EXPECT_EQ(http.Delete(path)->status, 404);

  // Still serving, and every error was counted.
  auto f = r.client->fetch_level(c.key, "q8");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->bytes, c.find("q8")->frame);
  const std::string m = r.server->metrics_text();
  EXPECT_EQ(metric(m, R"(kvf_requests_total{route="chunk_put",status="413"})"), 2);
  EXPECT_GE(metric(m, R"(kvf_requests_total{route="chunk_get",status="400"})"), 5);
  EXPECT_EQ(metric(m, R"(kvf_requests_total{route="lookup",status="400"})"), 7);
  EXPECT_EQ(metric(m, R"(kvf_requests_total{route="other",status="404"})"), 6);
}

TEST(ServerLimits, CorruptedChunkOnDiskIsReportedCountedAndHealedByAPut) {
  kvforge::testing::TempDir dir;
  auto r = start("file://" + dir.path());
  const store::StoredChunk c = store::testdata::synthetic_chunk();
  ASSERT_TRUE(r.client->put(c).ok());
  const std::string file = dir.path() + "/" + c.key.hex() + ".kvc";
  ASSERT_TRUE(std::filesystem::exists(file));
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(file) / 2));
    char b = 0;
    f.read(&b, 1);
    f.seekp(-1, std::ios::cur);
    b = static_cast<char>(b ^ 0x40);
    f.write(&b, 1);
  }
  auto http = raw(*r.server);
  auto g = http.Get("/v1/chunk/" + c.key.hex() + "?level=q8");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 500);
  const auto j = nlohmann::json::parse(g->body);
  EXPECT_EQ(j["code"], "corruption");
  EXPECT_EQ(j["key"], c.key.hex());
  EXPECT_NE(j["error"].get<std::string>().find(c.key.hex()), std::string::npos);
  EXPECT_EQ(metric(r.server->metrics_text(), "kvf_chunk_corrupted_total"), 1);

  // It was dropped: now a miss, and the lookup no longer counts it.
  const std::vector<store::ChunkKey> keys = {c.key};
  EXPECT_EQ(*r.client->lookup(keys), 0u);
  EXPECT_TRUE(r.client->fetch_level(c.key, "q8").status().is_not_found());
  // A re-put heals it.
  ASSERT_TRUE(r.client->put(c).ok());
  auto f = r.client->fetch_level(c.key, "q8");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->bytes, c.find("q8")->frame);

  // The client reports Corruption for a damaged chunk.
  {
    std::fstream f2(file, std::ios::in | std::ios::out | std::ios::binary);
    f2.seekp(70);
    f2.put('\x7f');
  }
  const Status s = r.client->fetch_chunk(c.key).status();
  EXPECT_TRUE(s.is_corruption()) << s.to_string();
  EXPECT_NE(s.message().find(c.key.hex()), std::string::npos);
  EXPECT_EQ(metric(r.server->metrics_text(), "kvf_chunk_corrupted_total"), 2);
  // The q8 frame read after the heal was kept verified in memory; the damaged
  // chunk's removal drops that copy too, so nothing removed is still served.
  EXPECT_TRUE(r.client->fetch_level(c.key, "q8").status().is_not_found());
}

TEST(ServerLimits, LevelReadsAreServedFromTheVerifiedCopy) {
  kvforge::testing::TempDir dir;
  auto r = start("file://" + dir.path());
  const store::StoredChunk c = store::testdata::synthetic_chunk();
  ASSERT_TRUE(r.client->put(c).ok());
  ASSERT_EQ(r.client->fetch_level(c.key, "q8")->bytes, c.find("q8")->frame);  // read and verified once
  std::filesystem::remove(dir.path() + "/" + c.key.hex() + ".kvc");        // the backend's copy goes away
  auto again = r.client->fetch_level(c.key, "cachegen:level=3");
  ASSERT_TRUE(again.ok()) << again.status().to_string();  // served from the verified copy
  EXPECT_EQ(again->bytes, c.find("cachegen:level=3")->frame);
  EXPECT_TRUE(r.client->fetch_chunk(c.key).status().is_not_found());  // whole containers are read afresh
  // A PUT replaces the verified copy.
  const store::StoredChunk other = store::testdata::synthetic_chunk(1, 24, {"q8"});
  ASSERT_TRUE(r.client->put(other).ok());
  EXPECT_TRUE(r.client->fetch_level(c.key, "cachegen:level=3").status().is_not_found());
}

TEST(ServerLimits, MetricsInPrometheusText) {
  auto r = start();
  const store::StoredChunk c = store::testdata::synthetic_chunk();
  ASSERT_TRUE(r.client->put(c).ok());
  const std::vector<store::ChunkKey> keys = {c.key, store::ChunkKey{9, 9}};
  ASSERT_EQ(*r.client->lookup(keys), 1u);
  auto f = r.client->fetch_level(c.key, "q8");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(r.client->fetch_level(store::ChunkKey{9, 9}, "q8").status().is_not_found());

  auto http = raw(*r.server);
  // A request is counted after its response is written (httplib's logger), so
  // the client can see the last answer before its count lands: read until the
  // four requests above are in (bounded), then check every line.
  std::string m;
  for (int i = 0; i < 500; ++i) {
    auto res = http.Get("/metrics");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_NE(res->get_header_value("Content-Type").find("text/plain"), std::string::npos);
    m = res->body;
    if (metric(m, "kvf_request_duration_seconds_count") - i >= 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(m.find("# TYPE kvf_requests_total counter"), std::string::npos) << m;
  EXPECT_NE(m.find("# TYPE kvf_request_duration_seconds histogram"), std::string::npos);
  EXPECT_EQ(metric(m, R"(kvf_requests_total{route="chunk_put",status="201"})"), 1);
  EXPECT_EQ(metric(m, R"(kvf_requests_total{route="lookup",status="200"})"), 1);
  EXPECT_EQ(metric(m, R"(kvf_requests_total{route="chunk_get",status="200"})"), 1);
  EXPECT_EQ(metric(m, R"(kvf_requests_total{route="chunk_get",status="404"})"), 1);
  EXPECT_EQ(metric(m, "kvf_chunk_hits_total"), 1);
  EXPECT_EQ(metric(m, "kvf_chunk_misses_total"), 1);
  EXPECT_EQ(metric(m, "kvf_chunk_corrupted_total"), 0);
  EXPECT_GE(metric(m, "kvf_bytes_sent_total"), static_cast<double>(f->bytes.size()));
  EXPECT_GE(metric(m, "kvf_bytes_received_total"), static_cast<double>(store::serialize_chunk(c)->size()));
  EXPECT_GE(metric(m, "kvf_request_duration_seconds_count"), 4);  // earlier /metrics reads count too
  EXPECT_EQ(metric(m, R"(kvf_request_duration_seconds_bucket{le="+Inf"})"),
            metric(m, "kvf_request_duration_seconds_count"));
}

}  // namespace
}  // namespace kvforge::server

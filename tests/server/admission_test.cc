// What the server decides from a request's head, before reading its body:
// tokens, size limits on every transfer encoding, malformed heads; and that any
// Content-Type carries a container (issue 17).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "kvforge/store/chunk_io.h"
#include "raw_socket.h"
#include "server/server_fixture.h"
#include "store/synthetic_chunk.h"

namespace kvforge::server {
namespace {

using testing::metric;
using testing::raw;
using testing::RawSocket;
using testing::start;
using Clock = std::chrono::steady_clock;

std::string status_line(const std::string& answer) { return answer.substr(0, answer.find("\r\n")); }

// Offers up to `limit` bytes of chunked body (1 MiB pieces) until the server
// stops taking them, reading its answer into `answer` as it comes; returns the
// bytes it took.
size_t offer_chunked(RawSocket& s, size_t limit, std::string* answer) {
  const std::string piece(size_t{1} << 20, 'x');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
  size_t sent = 0;
  while (sent < limit && s.send(std::string(size_line) + piece + "\r\n")) {
    sent += piece.size();
    if (answer->find("\r\n\r\n") == std::string::npos) *answer += s.read_for(1, "\r\n\r\n");
  }
  return sent;
}

TEST(Admission, UnauthenticatedGigabyteChunkedPutIsRefusedBeforeItsBody) {
  ServerOptions options;
  options.token = "s3cret";
  auto r = start("mem://", options);
  const size_t rss_before = testing::resident_bytes();
  RawSocket s(r.server->port());
  ASSERT_TRUE(s.send("PUT /v1/chunk/00000000000000000000000000000001 HTTP/1.1\r\nHost: x\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"));
  const std::string answer = s.read_for(2000, "\r\n\r\n");  // refused from the head alone
  EXPECT_EQ(status_line(answer), "HTTP/1.1 401 Unauthorized") << answer;
  std::string rest;
  const size_t sent = offer_chunked(s, size_t{1} << 30, &rest);
  EXPECT_LT(sent, size_t{1} << 30) << "the server kept reading an unauthenticated body";
  const size_t rss_after = testing::resident_bytes();
  EXPECT_LT(rss_after, rss_before + (size_t{64} << 20)) << "server RSS grew by " << (rss_after - rss_before);
  EXPECT_EQ(metric(r.server->metrics_text(), "kvf_bytes_received_total"), 0);
}

TEST(Admission, ChunkedBodyOverMaxBodyGets413WhileReading) {
  ServerOptions options;
  options.max_body_bytes = size_t{1} << 20;
  auto r = start("mem://", options);
  RawSocket s(r.server->port());
  ASSERT_TRUE(s.send("PUT /v1/chunk/00000000000000000000000000000001 HTTP/1.1\r\nHost: x\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"));
  std::string answer;
  const size_t sent = offer_chunked(s, size_t{256} << 20, &answer);
  EXPECT_LT(sent, size_t{256} << 20);
  if (answer.find("\r\n\r\n") == std::string::npos) answer += s.read_for(3000, "\r\n\r\n");
  EXPECT_EQ(status_line(answer), "HTTP/1.1 413 Payload Too Large") << answer;
}

TEST(Admission, DeclaredLengthOverMaxBodyGets413AtOnce) {
  ServerOptions options;
  options.max_body_bytes = size_t{1} << 20;
  options.timeout_ms = 10000;
  auto r = start("mem://", options);
  RawSocket s(r.server->port());
  const auto t0 = Clock::now();
  ASSERT_TRUE(s.send("PUT /v1/chunk/00000000000000000000000000000001 HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 10737418240\r\n\r\n"));
  const std::string answer = s.read_for(3000, "\r\n\r\n");
  EXPECT_EQ(status_line(answer), "HTTP/1.1 413 Payload Too Large") << answer;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);
}

// `curl --data-binary @chunk` sends application/x-www-form-urlencoded; cpp-httplib
// would parse that as a form and refuse it past 8 KiB.
TEST(Admission, ContainerSentAsCurlsDefaultFormTypeIsStored) {
  auto r = start("mem://");
  const store::StoredChunk c = store::testdata::synthetic_chunk(1, 200);
  const std::string bytes = *store::serialize_chunk(c);
  ASSERT_GT(bytes.size(), 8192u);
  auto http = raw(*r.server);
  auto put = http.Put("/v1/chunk/" + c.key.hex(), bytes, "application/x-www-form-urlencoded");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201) << put->body;
  EXPECT_TRUE(r.client->fetch_chunk(c.key).ok());
}

TEST(Admission, ReadAndWriteTokensAreSeparate) {
  ServerOptions options;
  options.read_token = "reader";
  options.write_token = "writer";
  auto r = start("mem://", options);
  const store::StoredChunk c = store::testdata::synthetic_chunk();
  const std::string bytes = *store::serialize_chunk(c);
  const std::string path = "/v1/chunk/" + c.key.hex();
  const httplib::Headers reader = {{"Authorization", "Bearer reader"}};
  const httplib::Headers writer = {{"Authorization", "Bearer writer"}};
  auto http = raw(*r.server);
  EXPECT_EQ(http.Put(path, bytes, "application/octet-stream")->status, 401);
  EXPECT_EQ(http.Put(path, reader, bytes, "application/octet-stream")->status, 401);
  EXPECT_EQ(http.Put(path, writer, bytes, "application/octet-stream")->status, 201);
  EXPECT_EQ(http.Get(path)->status, 401);
  EXPECT_EQ(http.Get(path, reader)->status, 200);
  EXPECT_EQ(http.Get(path, writer)->status, 200);
  EXPECT_EQ(http.Get("/metrics", reader)->status, 200);
}

TEST(Admission, HeaderLineWithoutAColonIs400) {
  auto r = start("mem://");
  RawSocket s(r.server->port());
  ASSERT_TRUE(s.send("GET /metrics HTTP/1.1\r\nHost x\r\n\r\n"));
  const std::string answer = s.read_for(2000);
  EXPECT_EQ(status_line(answer), "HTTP/1.1 400 Bad Request") << answer;
  EXPECT_NE(answer.find("without a colon"), std::string::npos) << answer;
  EXPECT_EQ(metric(r.server->metrics_text(), "kvf_bad_request_heads_total"), 1);
}

TEST(Admission, KeptAliveConnectionServesPipelinedRequests) {
  auto r = start("mem://");
  RawSocket s(r.server->port());
  ASSERT_TRUE(s.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string answer;
  for (int i = 0; i < 40; ++i) {
    answer += s.read_for(100);
    size_t n = 0;
    for (size_t at = answer.find("HTTP/1.1 200"); at != std::string::npos; at = answer.find("HTTP/1.1 200", at + 1)) ++n;
    if (n == 2) break;
  }
  EXPECT_NE(answer.find("HTTP/1.1 200"), answer.rfind("HTTP/1.1 200")) << answer;
  EXPECT_FALSE(s.closed_by_peer());
}

}  // namespace
}  // namespace kvforge::server

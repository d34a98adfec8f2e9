// Slow and idle clients cost the server a buffer, not a worker: request heads
// are read by the gate, under a deadline of total time (issue 17, slowloris).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "raw_socket.h"
#include "server/server_fixture.h"

namespace kvforge::server {
namespace {

using testing::metric;
using testing::raw;
using testing::RawSocket;
using testing::start;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Sends a head one header line at a time, `every_ms` apart, until stopped.
struct Dripper {
  Dripper(int port, int n, int every_ms) {
    for (int i = 0; i < n; ++i) sockets.push_back(std::make_unique<RawSocket>(port));
    thread = std::thread([this, every_ms] {
      for (auto& s : sockets) s->send("GET /metrics HTTP/1.1\r\n");
      for (int line = 0; !stop; ++line) {
        for (auto& s : sockets) s->send("X-Slow-" + std::to_string(line) + ": 1\r\n");
        std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
      }
    });
  }
  ~Dripper() {
    stop = true;
    thread.join();
  }
  std::vector<std::unique_ptr<RawSocket>> sockets;
  std::atomic<bool> stop{false};
  std::thread thread;
};

TEST(SlowClients, FreshClientIsServedWhileTwiceTheWorkersDripHeaders) {
  ServerOptions options;
  options.threads = 4;
  auto r = start("mem://", options);
  Dripper slow(r.server->port(), 2 * options.threads, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // every worker would be taken by now
  auto http = raw(*r.server);
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    auto got = http.Get("/metrics");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 200);
    EXPECT_LT(seconds_since(t0), 1.0);
  }
}

TEST(SlowClients, FreshClientIsServedPastTwoHundredIdleSockets) {
  auto r = start("mem://");
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 200; ++i) idle.push_back(std::make_unique<RawSocket>(r.server->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto http = raw(*r.server);
  const auto t0 = Clock::now();
  auto got = http.Get("/metrics");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_LT(seconds_since(t0), 1.0);
}

// A client that sends a byte every 100 ms is never idle for the 10 s socket
// timeout, yet its head misses the 600 ms head deadline: closed with 408.
TEST(SlowClients, HeadDeadlineCountsTotalTimeNotIdleTime) {
  ServerOptions options;
  options.header_timeout_ms = 600;
  options.timeout_ms = 10000;
  auto r = start("mem://", options);
  RawSocket s(r.server->port());
  const std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  const auto t0 = Clock::now();
  std::string answer;
  for (const char ch : head) {
    if (!s.send(std::string_view(&ch, 1))) break;
    answer += s.read_for(100);
    if (s.closed_by_peer()) break;
  }
  answer += s.read_for(1000);
  EXPECT_TRUE(s.closed_by_peer());
  EXPECT_LT(seconds_since(t0), 3.0);
  EXPECT_EQ(answer.rfind("HTTP/1.1 408", 0), 0u) << answer;
  EXPECT_GE(metric(r.server->metrics_text(), "kvf_connection_head_timeouts_total"), 1);
}

// A body dripped slower than its deadline allows is cut off at the deadline.
TEST(SlowClients, BodyDeadlineCountsTotalTime) {
  ServerOptions options;
  options.body_timeout_ms = 600;
  auto r = start("mem://", options);
  RawSocket s(r.server->port());
  ASSERT_TRUE(s.send("POST /v1/lookup HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"));
  const auto t0 = Clock::now();
  std::string answer;
  for (int i = 0; i < 40 && !s.closed_by_peer(); ++i) {
    s.send(" ");
    answer += s.read_for(100);
  }
  EXPECT_LT(seconds_since(t0), 3.0);
  EXPECT_EQ(answer.rfind("HTTP/1.1 408", 0), 0u) << answer;
  EXPECT_GE(metric(r.server->metrics_text(), "kvf_connection_body_timeouts_total"), 1);
}

// Past --max-connections, clients wait in the backlog (not refused) and are
// served once the idle connections ahead of them time out.
TEST(SlowClients, ConnectionCapQueuesClientsUntilARoomFrees) {
  ServerOptions options;
  options.max_connections = 4;
  options.header_timeout_ms = 500;
  auto r = start("mem://", options);
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(std::make_unique<RawSocket>(r.server->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(metric(r.server->metrics_text(), "kvf_connections_open"), 4);
  auto http = raw(*r.server);
  auto got = http.Get("/metrics");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_GE(metric(got->body, "kvf_connection_head_timeouts_total"), 1);
}

}  // namespace
}  // namespace kvforge::server

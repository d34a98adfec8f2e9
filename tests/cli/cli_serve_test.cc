// `kvforge store serve` as a user runs it: starts on a free port, answers, and stops
// cleanly on SIGTERM and SIGINT.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "cli/serve_process.h"
#include "kvforge/core/status.h"

namespace kvforge::testing {
namespace {

TEST(CliServe, StartsAnswersMetricsAndStopsOnSigterm) {
  ServeProcess serve({"--store", "mem://", "--port", "0"});
  ASSERT_TRUE(serve.wait_for("\n")) << serve.err;
  const int port = serve.port();
  ASSERT_GT(port, 0) << serve.err;
  httplib::Client http("127.0.0.1", port);
  auto m = http.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("kvf_requests_total"), std::string::npos);
  auto lookup = http.Post("/v1/lookup", R"({"keys":["00000000000000000000000000000001"]})", "application/json");
  ASSERT_TRUE(lookup);
  EXPECT_EQ(lookup->body, R"({"prefix":0})");
  EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.err;
  EXPECT_NE(serve.err.find("SIGTERM, stopping"), std::string::npos) << serve.err;
  EXPECT_NE(serve.err.find("stopped"), std::string::npos) << serve.err;
}

TEST(CliServe, TokenRequiredAndSigintStops) {
  ServeProcess serve({"--store", "mem://", "--port", "0", "--token", "tok", "--bandwidth-mbps", "100"});
  ASSERT_TRUE(serve.wait_for("\n")) << serve.err;
  EXPECT_NE(serve.err.find("bearer token required"), std::string::npos) << serve.err;
  httplib::Client http("127.0.0.1", serve.port());
  EXPECT_EQ(http.Get("/metrics")->status, 401);
  EXPECT_EQ(http.Get("/metrics", {{"Authorization", "Bearer tok"}})->status, 200);
  EXPECT_EQ(serve.stop(SIGINT), 0) << serve.err;
}

TEST(CliServe, BadStoreUrlFails) {
  const CliRun r = run("store serve --store nope:// --port 0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nope://"), std::string::npos) << r.err;
}

// The chunk-store server moved to `kvforge store serve`; its old invocation
// fails naming the new one instead of starting something else.
TEST(CliServe, OldChunkServerInvocationNamesTheNewCommand) {
  const CliRun r = run("serve --store mem:// --port 0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("kvforge store serve"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kvforge::testing

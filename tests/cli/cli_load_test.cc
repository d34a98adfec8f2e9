// `kvforge load` from a `kvforge store serve` as a user runs them, and the issue's
// failure case: the server killed (SIGKILL) in the middle of a load. The
// client must finish by recomputing the rest and give the answer a full
// recompute gives.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "cli/cli_runner.h"
#include "cli/serve_process.h"
#include "temp_dir.h"

namespace kvforge::testing {
namespace {

// The last line of what `kvforge load` printed: the greedy continuation.
std::string answer(const std::string& out) {
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

TEST(CliLoad, KillingTheServerMidLoadRecomputesTheRestAndAnswersLikeAFullRecompute) {
  TempDir dir;
  const std::string text = dir.path() + "/context.txt";
  {
    std::ifstream in(shared("data/tinystories-valid-first1000.txt"));
    std::ofstream out(text);
    std::string line;
    for (int i = 0; i < 1 && std::getline(in, line); ++i) out << line << " ";  // room left to generate
    out << "\n";
  }
  const std::string store = "file://" + dir.path() + "/store";
  const CliRun put = run("store put --store " + store + " " + llama2c_flags() + " --text " + text +
                         " --levels fp16 --chunk-tokens 32");
  ASSERT_EQ(put.code, 0) << put.err;

  // A slow link (0.4 Mbit/s: ~0.2 s per 32-token fp16 chunk), so the load is
  // still running when the server dies.
  ServeProcess serve({"--store", store, "--port", "0", "--trace", "const:mbps=0.4"});
  ASSERT_TRUE(serve.wait_for("\n")) << serve.err;
  const int port = serve.port();
  ASSERT_GT(port, 0) << serve.err;
  const std::string load_args = " " + llama2c_flags() + " --text " + text + " --chunk-tokens 32 -n 16";
  CliRun loaded{};
  std::jthread client([&] {  // joined on every exit path
    loaded = run("load --store http://127.0.0.1:" + std::to_string(port) + " --mode fp16 --deadline-ms 100000" +
                 load_args);
  });
  // Kill once the client has the calibration chunk and three chunks' frames
  // (of 6-7), read off the server's own counters.
  httplib::Client http("127.0.0.1", port);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto m = http.Get("/metrics");
    ASSERT_TRUE(m) << "the server stopped answering before the kill";
    const std::string counter = "\nkvf_chunk_hits_total ";
    const size_t at = m->body.find(counter);
    if (at != std::string::npos && std::stoi(m->body.substr(at + counter.size())) >= 4) break;
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << m->body;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  serve.stop(SIGKILL);
  client.join();
  ASSERT_EQ(loaded.code, 0) << loaded.err;
  EXPECT_NE(loaded.err.find("the source failed"), std::string::npos) << loaded.err;
  EXPECT_NE(loaded.out.find("| fp16 "), std::string::npos) << loaded.out;       // chunks fetched before the kill
  EXPECT_NE(loaded.out.find("source failed"), std::string::npos) << loaded.out;  // and recomputed after it

  const CliRun full = run("load --store " + store + " --mode recompute --deadline-ms 100000" + load_args);
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_FALSE(answer(full.out).empty());
  EXPECT_EQ(answer(loaded.out), answer(full.out)) << loaded.out << "\n---\n" << full.out;
}

}  // namespace
}  // namespace kvforge::testing

// `kvforge store serve` killed with SIGKILL while clients PUT chunks into a file://
// store: after a restart the store holds every chunk the server acknowledged
// (a 201 is sent only once the backend's atomic write returned), each whole.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cli/cli_runner.h"
#include "cli/serve_process.h"
#include "kvforge/server/client.h"
#include "kvforge/store/chunk_io.h"
#include "store/synthetic_chunk.h"
#include "temp_dir.h"

namespace kvforge::testing {
namespace {

std::unique_ptr<server::StoreClient> client_of(ServeProcess& serve) {
  EXPECT_TRUE(serve.wait_for("\n")) << serve.err;
  auto c = server::StoreClient::make("http://127.0.0.1:" + std::to_string(serve.port()));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(*c) : nullptr;
}

TEST(CliServe, KilledDuringPutsKeepsEveryAcknowledgedChunk) {
  TempDir dir;
  const std::string store = "file://" + dir.path() + "/store";
  std::vector<store::StoredChunk> chunks;
  for (uint32_t i = 0; i < 300; ++i) chunks.push_back(store::testdata::synthetic_chunk(i + 1, 24, {"q8"}));

  std::atomic<int> acked{-1};
  {
    ServeProcess serve({"--store", store, "--port", "0"});
    auto client = client_of(serve);
    ASSERT_TRUE(client);
    std::jthread writer([&] {
      for (size_t i = 0; i < chunks.size(); ++i) {
        if (!client->put(chunks[i]).ok()) return;  // the server is gone
        acked = static_cast<int>(i);
      }
    });
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (acked.load() < 20 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    serve.stop(SIGKILL);  // mid-stream: puts in flight are lost, acknowledged ones must not be
  }
  ASSERT_GE(acked.load(), 20);

  ServeProcess again({"--store", store, "--port", "0"});
  auto client = client_of(again);
  ASSERT_TRUE(client);
  for (int i = 0; i <= acked.load(); ++i) {
    const store::StoredChunk& want = chunks[static_cast<size_t>(i)];
    auto got = client->fetch_chunk(want.key);
    ASSERT_TRUE(got.ok()) << "acknowledged chunk " << i << " lost: " << got.status().to_string();
    auto parsed = store::parse_stored(want.key, got->bytes);
    ASSERT_TRUE(parsed.ok()) << i << ": " << parsed.status().to_string();
    EXPECT_EQ(parsed->tokens, want.tokens) << i;
  }
}

}  // namespace
}  // namespace kvforge::testing

// A server with the store secret takes and serves only signed chunks, and a
// level GET carries the level's MAC for the reader to check (issue 17).
#include <gtest/gtest.h>

#include "kvforge/core/hex.h"
#include "kvforge/store/chunk_io.h"
#include "kvforge/store/chunk_signer.h"
#include "server/http_common.h"
#include "server/server_fixture.h"
#include "store/synthetic_chunk.h"

namespace kvforge::server {
namespace {

using testing::raw;
using testing::start;

constexpr const char* kSecret = "a store secret of 32 bytes......";

TEST(SignedChunks, OnlySignedChunksGoInAndTheirMacComesOut) {
  ServerOptions options;
  options.secret = kSecret;
  auto r = start("mem://", options);
  const auto signer = *store::ChunkSigner::make(kSecret);
  auto http = raw(*r.server);

  store::StoredChunk plain = store::testdata::synthetic_chunk();
  const std::string path = "/v1/chunk/" + plain.key.hex();
  auto refused = http.Put(path, *store::serialize_chunk(plain), "application/octet-stream");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  EXPECT_NE(refused->body.find("unsigned"), std::string::npos) << refused->body;

  store::StoredChunk forged = plain;
  (*store::ChunkSigner::make("a different secret, long enough")).sign(&forged);
  EXPECT_EQ(http.Put(path, *store::serialize_chunk(forged), "application/octet-stream")->status, 400);

  store::StoredChunk c = plain;
  signer.sign(&c);
  ASSERT_EQ(http.Put(path, *store::serialize_chunk(c), "application/octet-stream")->status, 201);
  auto got = http.Get(path + "?level=q8");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200);
  const auto mac = core::from_hex(got->get_header_value(kHeaderMac));
  ASSERT_TRUE(mac.has_value());
  EXPECT_TRUE(signer.verify_level(c.key, c.chunk_index, c.first_position, c.tokens, "q8", got->body, *mac).ok());
  // The MAC binds the reader's tokens: a reader expecting other tokens refuses it.
  std::vector<int32_t> other_tokens = c.tokens;
  other_tokens.back() += 1;
  EXPECT_TRUE(signer.verify_level(c.key, c.chunk_index, c.first_position, other_tokens, "q8", got->body, *mac)
                  .is_corruption());
}

TEST(SignedChunks, AnUnsignedChunkStoredBehindTheServerIsNotServed) {
  ServerOptions options;
  options.secret = kSecret;
  auto r = start("mem://", options);
  const store::StoredChunk plain = store::testdata::synthetic_chunk();
  ASSERT_TRUE(store::put_chunk(*r.backend, plain).ok());  // written to the store directly
  auto got = raw(*r.server).Get("/v1/chunk/" + plain.key.hex() + "?level=q8");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 500);
  EXPECT_NE(got->body.find("unsigned"), std::string::npos) << got->body;
}

}  // namespace
}  // namespace kvforge::server

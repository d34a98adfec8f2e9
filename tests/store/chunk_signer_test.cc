// Signed chunks: a container signed with the store secret round-trips with its
// MACs; a holder of the secret accepts only chunks signed with it, whatever
// else about them is valid (issue 17: another text's KV under this key).
#include <gtest/gtest.h>

#include <fstream>

#include "kvforge/store/chunk_signer.h"
#include "store/synthetic_chunk.h"
#include "temp_dir.h"

namespace kvforge::store {
namespace {

ChunkSigner signer(const std::string& secret = "a store secret of 32 bytes......") {
  auto s = ChunkSigner::make(secret);
  KVF_CHECK(s.ok());
  return *s;
}

TEST(ChunkSigner, SignedContainerRoundTripsAndVerifies) {
  StoredChunk c = testdata::synthetic_chunk();
  signer().sign(&c);
  ASSERT_TRUE(c.is_signed());
  auto bytes = serialize_chunk(c);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), serialize_chunk(testdata::synthetic_chunk())->size() + 32 * c.levels.size());
  auto back = parse_chunk(*bytes);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_TRUE(back->is_signed());
  for (size_t i = 0; i < c.levels.size(); ++i) EXPECT_EQ(back->levels[i].mac, c.levels[i].mac);
  EXPECT_TRUE(signer().verify(*back).ok());
}

TEST(ChunkSigner, UnsignedOtherSecretAndSwappedContentAreRefused) {
  const StoredChunk plain = testdata::synthetic_chunk();
  const Status unsigned_chunk = signer().verify(plain);
  EXPECT_TRUE(unsigned_chunk.is_corruption());
  EXPECT_NE(unsigned_chunk.message().find("unsigned"), std::string::npos) << unsigned_chunk.message();

  StoredChunk other = plain;
  signer("another secret, also long enough").sign(&other);
  EXPECT_TRUE(signer().verify(other).is_corruption());

  // Another chunk's frames (validly signed for that chunk) under this key and tokens.
  StoredChunk y = testdata::synthetic_chunk(2);
  signer().sign(&y);
  StoredChunk swapped = plain;
  signer().sign(&swapped);
  swapped.levels = y.levels;
  const Status s = signer().verify(swapped);
  EXPECT_TRUE(s.is_corruption());
  EXPECT_NE(s.message().find("signature mismatch"), std::string::npos) << s.message();

  // The same frames with other tokens (the text fallback) fail too.
  StoredChunk retokened = plain;
  signer().sign(&retokened);
  retokened.tokens[0] += 1;
  EXPECT_TRUE(signer().verify(retokened).is_corruption());
}

TEST(ChunkSigner, ShortSecretsAndMixedLevelsAreRefused) {
  EXPECT_TRUE(ChunkSigner::make("short").status().is_invalid_argument());
  StoredChunk c = testdata::synthetic_chunk();
  signer().sign(&c);
  c.levels[1].mac.clear();
  EXPECT_TRUE(serialize_chunk(c).status().is_invalid_argument());
}

TEST(ChunkSigner, SecretFileDropsOneTrailingNewline) {
  kvforge::testing::TempDir dir;
  const std::string path = dir.path() + "/secret";
  std::ofstream(path) << "a store secret of 32 bytes......\n";
  auto from_file = ChunkSigner::from_file(path);
  ASSERT_TRUE(from_file.ok());
  StoredChunk c = testdata::synthetic_chunk();
  from_file->sign(&c);
  EXPECT_TRUE(signer().verify(c).ok());
}

}  // namespace
}  // namespace kvforge::store

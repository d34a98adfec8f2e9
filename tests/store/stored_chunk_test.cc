// The stored-chunk container: round trip, and every kind of damage reported as
// a Status (Corruption naming the key through get_chunk), never a crash.
#include <gtest/gtest.h>
#include <xxhash.h>

#include "kvforge/core/little_endian.h"
#include "kvforge/store/chunk_io.h"
#include "kvforge/store/registry.h"
#include "store/chunk_format.h"
#include "shared_paths.h"
#include "store/synthetic_chunk.h"
#include "temp_dir.h"

namespace kvforge::store {
namespace {

using testdata::synthetic_chunk;

// Recomputes the trailing checksum, so a test can reach the checks behind it.
std::string reseal(std::string bytes) {
  bytes.resize(bytes.size() - format::kChecksumBytes);
  core::put_u64(&bytes, XXH64(bytes.data(), bytes.size(), 0));
  return bytes;
}

TEST(StoredChunk, RoundTrip) {
  const StoredChunk chunk = synthetic_chunk();
  auto bytes = serialize_chunk(chunk);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  EXPECT_EQ(bytes->substr(0, 4), "\x89KVS");
  auto back = parse_chunk(*bytes);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->key, chunk.key);
  EXPECT_EQ(back->model_fingerprint, testdata::kFingerprint);
  EXPECT_EQ(back->chunk_index, 1u);
  EXPECT_EQ(back->first_position, 24u);
  EXPECT_EQ(back->tokens, chunk.tokens);
  ASSERT_EQ(back->levels.size(), 2u);
  EXPECT_EQ(back->levels[0].level, "q8");
  EXPECT_EQ(back->levels[1].level, "cachegen:level=3");
  EXPECT_EQ(back->levels[1].frame, chunk.levels[1].frame);
  EXPECT_EQ(*serialize_chunk(*back), *bytes);  // deterministic
}

TEST(StoredChunk, EveryFlippedByteIsCorruptionNamingTheKey) {
  const StoredChunk chunk = synthetic_chunk(2, 8, {"fp16"});
  const std::string bytes = *serialize_chunk(chunk);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 0x04;
    auto r = parse_stored(chunk.key, bad);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_TRUE(r.status().is_corruption()) << "byte " << i << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find(chunk.key.hex()), std::string::npos) << r.status().message();
  }
}

TEST(StoredChunk, TruncatedOrPaddedIsCorruption) {
  const StoredChunk chunk = synthetic_chunk();
  const std::string bytes = *serialize_chunk(chunk);
  for (size_t n : {size_t{0}, size_t{3}, size_t{40}, format::kMinChunkBytes, bytes.size() / 2, bytes.size() - 1}) {
    auto r = parse_stored(chunk.key, bytes.substr(0, n));
    EXPECT_TRUE(r.status().is_corruption()) << n << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find(chunk.key.hex()), std::string::npos);
  }
  EXPECT_TRUE(parse_chunk(bytes + "x").status().is_corruption());
}

TEST(StoredChunk, ChecksummedButInconsistentIsRefused) {
  const StoredChunk chunk = synthetic_chunk();
  const std::string good = *serialize_chunk(chunk);
  auto with = [&](size_t off, uint32_t v) {
    std::string b = good;
    for (int i = 0; i < 4; ++i) b[off + i] = static_cast<char>(v >> (8 * i));
    return reseal(b);
  };
  EXPECT_TRUE(parse_chunk(with(format::kOffTokens, 0)).status().is_corruption());
  EXPECT_TRUE(parse_chunk(with(format::kOffTokens, 25)).status().is_corruption());   // frames hold 24
  EXPECT_TRUE(parse_chunk(with(format::kOffTokens, 1u << 30)).status().is_corruption());
  EXPECT_TRUE(parse_chunk(with(format::kOffLevels, 3)).status().is_corruption());
  EXPECT_TRUE(parse_chunk(with(format::kOffLevels, 1)).status().is_corruption());    // bytes left over
  EXPECT_TRUE(parse_chunk(with(format::kOffFirstPosition, 0)).status().is_corruption());
  EXPECT_TRUE(parse_chunk(with(format::kOffFingerprint, 1)).status().is_corruption());
  EXPECT_TRUE(parse_chunk(with(format::kOffFlags, 1)).status().is_corruption());
  EXPECT_TRUE(parse_chunk(with(format::kOffVersion, 2)).status().is_not_supported());
  // A valid chunk stored under another key.
  auto other = parse_stored(chunk_key(1, nullptr, std::vector<int32_t>{1}), good);
  EXPECT_TRUE(other.status().is_corruption());
  EXPECT_NE(other.status().message().find(chunk.key.hex()), std::string::npos);
}

TEST(StoredChunk, LimitsAreInvalidArgument) {
  StoredChunk chunk = synthetic_chunk();
  StoredChunk no_tokens = chunk;
  no_tokens.tokens.clear();
  EXPECT_TRUE(serialize_chunk(no_tokens).status().is_invalid_argument());
  StoredChunk no_levels = chunk;
  no_levels.levels.clear();
  EXPECT_TRUE(serialize_chunk(no_levels).status().is_invalid_argument());
  chunk.levels[0].level = std::string(200, 'x');
  EXPECT_TRUE(serialize_chunk(chunk).status().is_invalid_argument());
}

TEST(StoredChunk, CorruptedInAFileStoreIsReportedAndTheRestStillReads) {
  testing::TempDir dir;
  auto backend = open_backend("file://" + dir.path());
  ASSERT_TRUE(backend.ok());
  const StoredChunk a = synthetic_chunk(0), b = synthetic_chunk(1);
  ASSERT_TRUE(put_chunk(**backend, a).ok());
  ASSERT_TRUE(put_chunk(**backend, b).ok());
  const std::string path = dir.path() + "/" + a.key.hex() + ".kvc";
  std::string bytes = testing::slurp(path);
  bytes[bytes.size() / 2] ^= 0x20;
  dir.write(a.key.hex() + ".kvc", std::vector<uint8_t>(bytes.begin(), bytes.end()));
  auto r = get_chunk(**backend, a.key);
  ASSERT_TRUE(r.status().is_corruption()) << r.status().to_string();
  EXPECT_NE(r.status().message().find(a.key.hex()), std::string::npos);
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos);
  ASSERT_TRUE(get_chunk(**backend, b.key).ok());
  // Truncated on disk.
  const std::string path_b = dir.path() + "/" + b.key.hex() + ".kvc";
  const std::string bytes_b = testing::slurp(path_b);
  dir.write(b.key.hex() + ".kvc", std::vector<uint8_t>(bytes_b.begin(), bytes_b.begin() + 100));
  auto t = get_chunk(**backend, b.key);
  EXPECT_TRUE(t.status().is_corruption()) << t.status().to_string();
  EXPECT_NE(t.status().message().find(b.key.hex()), std::string::npos);
}

}  // namespace
}  // namespace kvforge::store

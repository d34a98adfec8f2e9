// Chunk keys: stable across processes (a value computed independently from the
// spec), a pure function of every input, and a chain over a context's chunks.
#include <gtest/gtest.h>

#include <set>

#include "kvforge/store/chunk_key.h"

namespace kvforge::store {
namespace {

constexpr uint64_t kFingerprint = 0x0123456789abcdefull;

TEST(ChunkKey, MatchesTheSpecComputedIndependently) {
  // Computed from docs/STORE.md outside kvforge: Python struct.pack of the hashed
  // bytes, hashed by Debian's `xxh128sum` (XXH3_128bits, canonical hex).
  const std::vector<int32_t> chunk0 = {1, 15043, 3186, 29991};
  const std::vector<int32_t> chunk1 = {7, 8, -1};
  const ChunkKey k0 = chunk_key(kFingerprint, nullptr, chunk0);
  const ChunkKey k1 = chunk_key(kFingerprint, &k0, chunk1);
  EXPECT_EQ(k0.hex(), "1c42f5bc3696fc144b687fc722d1bf7f");
  EXPECT_EQ(k1.hex(), "16f36311a5d55201fee9c218dc38a8f8");

  std::vector<int32_t> context = chunk0;
  context.insert(context.end(), chunk1.begin(), chunk1.end());
  const auto keys = ChunkKeyer(kFingerprint, 4).keys(context);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], k0);
  EXPECT_EQ(keys[1], k1);
}

TEST(ChunkKey, SeparateKeyersAgree) {
  std::vector<int32_t> tokens(1000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 7919) % 32000);
  const ChunkKeyer a(kFingerprint), b(kFingerprint);
  EXPECT_EQ(a.keys(tokens), b.keys(tokens));
  EXPECT_EQ(a.keys(tokens).size(), 4u);  // 256 + 256 + 256 + 232
  EXPECT_EQ(a.chunk_count(tokens.size()), 4u);
  EXPECT_EQ(a.chunk_count(0), 0u);
  EXPECT_TRUE(a.keys({}).empty());
}

TEST(ChunkKey, EveryInputChangesTheKey) {
  const std::vector<int32_t> tokens = {1, 2, 3, 4};
  const ChunkKey prev = chunk_key(kFingerprint, nullptr, {});
  const ChunkKey base = chunk_key(kFingerprint, &prev, tokens);
  std::set<ChunkKey> seen = {base};
  EXPECT_TRUE(seen.insert(chunk_key(kFingerprint + 1, &prev, tokens)).second) << "fingerprint";
  EXPECT_TRUE(seen.insert(chunk_key(kFingerprint, nullptr, tokens)).second) << "no previous";
  ChunkKey other_prev = prev;
  other_prev.low ^= 1;
  EXPECT_TRUE(seen.insert(chunk_key(kFingerprint, &other_prev, tokens)).second) << "previous key";
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::vector<int32_t> t = tokens;
    t[i] += 1;
    EXPECT_TRUE(seen.insert(chunk_key(kFingerprint, &prev, t)).second) << "token " << i;
  }
  EXPECT_TRUE(seen.insert(chunk_key(kFingerprint, &prev, std::vector<int32_t>{1, 2, 3})).second) << "length";
  EXPECT_TRUE(seen.insert(chunk_key(kFingerprint, &prev, std::vector<int32_t>{2, 1, 3, 4})).second) << "order";
}

TEST(ChunkKey, ASharedPrefixSharesItsKeysOnly) {
  std::vector<int32_t> a(600, 5), b(600, 5);
  b[300] = 6;  // inside chunk 1
  const ChunkKeyer keyer(kFingerprint);
  const auto ka = keyer.keys(a), kb = keyer.keys(b);
  ASSERT_EQ(ka.size(), 3u);
  EXPECT_EQ(ka[0], kb[0]);
  EXPECT_NE(ka[1], kb[1]);
  EXPECT_NE(ka[2], kb[2]);  // chained: a later chunk names its whole prefix
}

TEST(ChunkKey, HexRoundTripAndBadText) {
  const ChunkKey k = chunk_key(kFingerprint, nullptr, std::vector<int32_t>{9});
  auto back = ChunkKey::from_hex(k.hex());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, k);
  std::string upper = k.hex();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(*ChunkKey::from_hex(upper), k);
  EXPECT_EQ(ChunkKey::from_bytes(k.bytes().data()), k);
  for (const char* bad : {"", "abc", "1c42f5bc3696fc144b687fc722d1bf7", "1c42f5bc3696fc144b687fc722d1bf7g"}) {
    auto r = ChunkKey::from_hex(bad);
    EXPECT_TRUE(r.status().is_invalid_argument()) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos);
  }
}

}  // namespace
}  // namespace kvforge::store

// Real KV from stories260K through the store: a context is prefilled, cut into
// chunks, each encoded at several levels and stored; after a reopen, a chunk
// decoded from the store is bit-identical to encoding and decoding the same KV
// locally at that level.
#include <gtest/gtest.h>

#include <cstring>

#include "kvforge/eval/codec_eval.h"
#include "kvforge/model/llama.h"
#include "kvforge/store/chunk_encoder.h"
#include "kvforge/store/chunk_io.h"
#include "kvforge/store/registry.h"
#include "shared_paths.h"
#include "store/synthetic_chunk.h"
#include "temp_dir.h"

namespace kvforge::store {
namespace {

constexpr size_t kChunkTokens = 128;

TEST(ChunkEncoder, StoredChunksDecodeExactlyAsLocalEncoding) {
  model::LoadOptions lo;
  lo.model_path = testing::model_dir() + "stories260K.bin";
  lo.tokenizer_path = testing::model_dir() + "tok512.bin";
  auto m = model::LlamaModel::load(lo);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const auto lines = testing::lines(testing::shared("data/tinystories-valid-first1000.txt"));
  std::string text;
  for (int i = 0; i < 4; ++i) text += lines[i] + " ";
  std::vector<int32_t> tokens = (*m)->tokenizer()->encode(text, true);
  tokens.resize(std::min<size_t>(tokens.size(), 3 * kChunkTokens + 40));
  ASSERT_GT(tokens.size(), 2 * kChunkTokens);
  model::Session session(*m, {.n_threads = 2});
  ASSERT_TRUE(session.forward(tokens, model::LogitsMode::kNone, nullptr).ok());

  const uint64_t fp = (*m)->fingerprint();
  const std::vector<std::string> levels = {"fp16", "q8", "cachegen:level=1", "cachegen:level=3", "cachegen:level=5"};
  auto encoder = ChunkEncoder::make(levels, fp);
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
  EXPECT_EQ(encoder->levels(), levels);
  const ChunkKeyer keyer(fp, kChunkTokens);
  const std::vector<ChunkKey> keys = keyer.keys(tokens);
  ASSERT_EQ(keys.size(), 4u);  // the last chunk is partial

  testing::TempDir dir;
  const std::string url = "file://" + dir.path();
  {
    auto backend = open_backend(url);
    ASSERT_TRUE(backend.ok());
    for (size_t i = 0; i < keys.size(); ++i) {
      const size_t begin = i * kChunkTokens, end = std::min(tokens.size(), begin + kChunkTokens);
      kv::DenseKvF32 part;
      ASSERT_TRUE(session.cache().export_range(begin, end, &part).ok());
      auto chunk = encoder->encode(keys[i], static_cast<uint32_t>(i), static_cast<uint32_t>(begin),
                                   std::span(tokens).subspan(begin, end - begin), part.view());
      ASSERT_TRUE(chunk.ok()) << chunk.status().to_string();
      ASSERT_TRUE(put_chunk(**backend, *chunk).ok());
    }
  }
  auto backend = open_backend(url);
  ASSERT_TRUE(backend.ok());
  EXPECT_EQ(*(*backend)->longest_prefix(keys), keys.size());

  for (size_t i = 0; i < keys.size(); ++i) {
    auto chunk = get_chunk(**backend, keys[i]);
    ASSERT_TRUE(chunk.ok()) << chunk.status().to_string();
    const size_t begin = i * kChunkTokens, end = std::min(tokens.size(), begin + kChunkTokens);
    EXPECT_EQ(chunk->tokens, std::vector<int32_t>(tokens.begin() + begin, tokens.begin() + end));
    EXPECT_EQ(chunk->first_position, begin);
    kv::DenseKvF32 part;
    ASSERT_TRUE(session.cache().export_range(begin, end, &part).ok());
    for (const std::string& level : levels) {
      auto codec = codec::make_codec(level);
      ASSERT_TRUE(codec.ok());
      auto frame = (*codec)->encode(part.view(),
                                    {.model_fingerprint = fp, .first_position = static_cast<int32_t>(begin)});
      ASSERT_TRUE(frame.ok());
      codec::KvChunk local, stored;
      ASSERT_TRUE((*codec)->decode(*frame, &local).ok());
      ASSERT_TRUE(decode_level(*chunk, level, &stored).ok()) << level;
      ASSERT_EQ(stored.k.size(), local.k.size());
      EXPECT_EQ(std::memcmp(stored.k.data(), local.k.data(), local.k.size() * 4), 0) << level << " chunk " << i;
      EXPECT_EQ(std::memcmp(stored.v.data(), local.v.data(), local.v.size() * 4), 0) << level << " chunk " << i;
    }
  }
}

TEST(ChunkEncoder, BadConfigurationAndMissingLevels) {
  EXPECT_TRUE(ChunkEncoder::make({}, 1).status().is_invalid_argument());
  EXPECT_TRUE(ChunkEncoder::make({"nope"}, 1).status().is_invalid_argument());
  EXPECT_TRUE(ChunkEncoder::make({"cachegen:3", "cachegen:level=3"}, 1).status().is_invalid_argument());
  const StoredChunk chunk = testdata::synthetic_chunk(0, 8, {"q8", "cachegen:level=3"});
  codec::KvChunk out;
  EXPECT_TRUE(decode_level(chunk, "cachegen:3", &out).ok());  // any spelling of a stored level
  const Status missing = decode_level(chunk, "q4", &out);
  EXPECT_TRUE(missing.is_not_found());
  EXPECT_NE(missing.message().find("q8, cachegen:level=3"), std::string::npos) << missing.message();

  auto enc = ChunkEncoder::make({"q8"}, 1);
  const codec::KvChunk kv = codec::testdata::make_chunk({1, 1, 8}, 4, 1);
  const std::vector<int32_t> three = {1, 2, 3};
  EXPECT_TRUE(enc->encode(ChunkKey{}, 0, 0, three, kv.view()).status().is_invalid_argument());
}

}  // namespace
}  // namespace kvforge::store

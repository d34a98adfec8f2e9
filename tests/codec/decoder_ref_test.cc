// The AVX2 lane-group decoder (decoder_avx2.cc) against the scalar reference
// (decode_group_ref, decoder.cc): every decoded float must have the same bits, on
// every mode (per-token steps, channel prediction with contexts, token delta), on
// planes of one and of several rANS streams (T >= 256: batches of 1 to 4 groups,
// full and partial lane groups) and on profile planes, whose basis blocks of 8 are
// applied while values are written.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "codec/codec_test_util.h"
#include "codec/decoder.h"
#include "codec/test_chunks.h"
#include "kvforge/codec/codec.h"
#include "kvforge/codec/profile.h"

namespace kvforge::codec {
namespace {

using testdata::make_chunk;

// Resets the process-wide choice when a test ends, however it ends.
struct RefDecoder {
  RefDecoder() { cachegen::force_ref_decoder(true); }
  ~RefDecoder() { cachegen::force_ref_decoder(false); }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void expect_same_decode(const std::string& spec, const KvChunk& in, const Profile* prof, int32_t first) {
  SCOPED_TRACE(spec + " " + std::to_string(in.shape.n_layers) + "x" + std::to_string(in.shape.n_kv_heads) + "x" +
               std::to_string(in.shape.head_dim) + " T=" + std::to_string(in.n_tokens) + (prof ? " +profile" : ""));
  auto c = make_codec(spec);
  ASSERT_TRUE(c.ok());
  EncodeOptions eo = testdata::eo(0, nullptr, prof);
  eo.first_position = first;
  auto frame = (*c)->encode(in.view(), eo);
  ASSERT_TRUE(frame.ok()) << frame.status().to_string();
  KvChunk fast, ref;
  ASSERT_TRUE(decode_frame(*frame, &fast, testdata::dopt(std::nullopt, nullptr, prof)).ok());
  {
    RefDecoder force;
    ASSERT_FALSE(cachegen::avx2_decoder_enabled());
    ASSERT_TRUE(decode_frame(*frame, &ref, testdata::dopt(std::nullopt, nullptr, prof)).ok());
  }
  EXPECT_TRUE(same_bits(fast.k, ref.k)) << "K differs";
  EXPECT_TRUE(same_bits(fast.v, ref.v)) << "V differs";
}

// T >= 256 gives n = min(4, groups) streams: 1, 2, 3, 4 and 5 full groups, and heads
// of 12 channels (a full and a partial group each).
const std::vector<std::pair<KvShape, size_t>>& shapes() {
  static const std::vector<std::pair<KvShape, size_t>> v = {
      {{2, 2, 8}, 37},   {{1, 1, 8}, 300}, {{2, 2, 8}, 256}, {{1, 3, 8}, 300},
      {{2, 4, 8}, 260},  {{1, 5, 8}, 513}, {{2, 3, 12}, 300}, {{1, 2, 16}, 129},
  };
  return v;
}

class DecoderRef : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cachegen::avx2_decoder_supported()) GTEST_SKIP() << "no AVX2 decoder on this CPU (or KVF_CODEC_NO_SIMD): the _ref decoder is the only one, nothing to compare";
  }
};

TEST_F(DecoderRef, Avx2MatchesRefBitForBit) {
  const std::vector<std::string> specs = {"cachegen-ref", "cachegen:level=1", "cachegen:level=3",
                                          "cachegen:level=5", "cachegen:level=2,delta=on", "cachegen:level=4,delta=off"};
  for (const auto& spec : specs)
    for (const auto& [shape, T] : shapes()) {
      expect_same_decode(spec, make_chunk(shape, T, 21), nullptr, 0);
      expect_same_decode(spec, make_chunk(shape, T, 22, /*structured=*/false), nullptr, 0);
    }
}

// Profile frames: block 8 on head_dim 8 (applied inside the lane decoders, RoPE
// undone after) and the default block (applied after decoding).
TEST_F(DecoderRef, Avx2MatchesRefBitForBitOnProfileFrames) {
  const KvShape shape{2, 4, 8};
  std::vector<KvChunk> chunks;
  std::vector<KvChunkView> views;
  for (uint32_t i = 0; i < 2; ++i) chunks.push_back(make_chunk(shape, 200, 40 + i));
  for (auto& c : chunks) views.push_back(c.view());
  for (int block : {8, 0}) {
    LearnOptions o;
    o.block = block;
    o.rope_theta = 10000.0f;
    o.first_positions = {0, 300};
    auto prof = learn_profile(views, 0, o);
    ASSERT_TRUE(prof.ok()) << prof.status().to_string();
    for (const auto& l : levels("cachegen"))
      for (size_t T : {size_t{45}, size_t{300}})
        expect_same_decode("cachegen:level=" + l, make_chunk(shape, T, 50), &*prof, 7);
  }
}

}  // namespace
}  // namespace kvforge::codec

// load_context against "content lies" (stream/content_check.h): a stored chunk
// holding another text's KV, or non-finite KV, under this text's key, token
// ids and position, re-serialized so every checksum holds. The loader flags
// it, counts it and recomputes it: the load equals one in which the store
// reported that chunk corrupt, to the bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "codec/frame_surgery.h"
#include "stream/loader_fixture.h"

namespace kvforge::stream {
namespace {

using namespace loader_testing;

// Text X (the fixture's) published in a fresh backend at `levels`, with chunk
// `lie`'s container replaced by one holding `kv` under X's key and tokens.
std::unique_ptr<store::Backend> store_with_lie(size_t lie, const kv::DenseKvF32& kv,
                                               const std::vector<std::string>& levels,
                                               const std::function<void(store::StoredChunk*)>& tamper = {}) {
  const Fixture& f = fixture();
  auto backend = store::open_backend("mem://");
  KVF_CHECK(backend.ok());
  auto encoder = store::ChunkEncoder::make(levels, f.model->fingerprint());
  KVF_CHECK(encoder.ok());
  model::Session publisher(f.model, {.n_threads = 1});
  KVF_CHECK(publish_context(publisher, **backend, f.tokens, *encoder, kChunk, SIZE_MAX).ok());
  const size_t begin = lie * kChunk, end = std::min(f.tokens.size(), begin + kChunk);
  auto chunk = encoder->encode(keys()[lie], static_cast<uint32_t>(lie), static_cast<uint32_t>(begin),
                               std::span(f.tokens).subspan(begin, end - begin), kv.view());
  KVF_CHECK(chunk.ok());
  if (tamper) tamper(&*chunk);
  KVF_CHECK(store::put_chunk(**backend, *chunk).ok());       // serialize_chunk: fresh checksums
  KVF_CHECK(store::get_chunk(**backend, keys()[lie]).ok());  // the store itself sees nothing wrong
  return std::move(*backend);
}

// Text Y's KV for X's chunk `i`: other stories, prefilled from their own BOS.
kv::DenseKvF32 other_text_kv(size_t i) {
  const Fixture& f = fixture();
  const auto lines = kvforge::testing::lines(kvforge::testing::shared("data/tinystories-valid-first1000.txt"));
  std::string text;
  for (int l = 20; l < 28; ++l) text += lines[l] + " ";
  std::vector<int32_t> y = f.model->tokenizer()->encode(text, true);
  KVF_CHECK(y.size() >= f.tokens.size());
  y.resize(f.tokens.size());
  model::Session s(f.model);
  KVF_CHECK(s.forward(y, model::LogitsMode::kNone, nullptr).ok());
  kv::DenseKvF32 part;
  KVF_CHECK(s.cache().export_range(i * kChunk, std::min(y.size(), (i + 1) * kChunk), &part).ok());
  return part;
}

kv::DenseKvF32 whole_cache(model::Session& s) {
  kv::DenseKvF32 all;
  KVF_CHECK(s.cache().export_range(0, static_cast<size_t>(s.cache().next_position()), &all).ok());
  return all;
}

// The same load with chunk `i` reported corrupt by the honest store.
LoadReport load_with_chunk_corrupt(size_t i, const std::string& mode, model::Session* session) {
  BackendSource inner(*fixture().backend);
  FaultySource source(inner, keys());
  source.corrupt[i] = FaultySource::Damage::kStatus;
  return load(source, options(mode), session);
}

TEST(LoaderContent, AnotherTextsKvUnderThisTextsKeyIsFlaggedAndRecomputed) {
  const Fixture& f = fixture();
  const std::vector<float> full = full_prefill_logits();
  for (size_t lie : {1, 4}) {  // a whole chunk, and the last (partial) one
    auto lying = store_with_lie(lie, other_text_kv(lie), {"fp16", "cachegen:level=5"});
    for (const std::string mode : {"fp16", "cachegen:level=5"}) {
      BackendSource source(*lying);
      model::Session loaded(f.model), want(f.model);
      const LoadReport r = load(source, options(mode), &loaded);
      const LoadReport ref = load_with_chunk_corrupt(lie, mode, &want);
      EXPECT_EQ(r.content_mismatches, 1u) << mode << " chunk " << lie;
      EXPECT_EQ(r.fetched_chunks, 4u);
      EXPECT_EQ(r.recomputed_chunks, 1u);
      EXPECT_EQ(r.chunks[lie].choice, "recompute");
      EXPECT_NE(r.chunks[lie].note.find("corrupt: Corruption: content mismatch"), std::string::npos)
          << r.chunks[lie].note;
      EXPECT_EQ(r.logits, ref.logits) << mode << " chunk " << lie;
      const kv::DenseKvF32 a = whole_cache(loaded), b = whole_cache(want);
      EXPECT_EQ(a.k, b.k);
      EXPECT_EQ(a.v, b.v);
      if (mode == "fp16") {  // fp16 rounding apart, the text's own continuation
        EXPECT_LT(max_abs_diff(r.logits, full), 2e-2);
        EXPECT_EQ(argmax(r.logits), argmax(full));
      }
      for (size_t i = 0; i < r.chunks.size(); ++i) {
        if (i != lie) {
          EXPECT_GT(r.chunks[i].check_ms, 0) << i;  // every imported chunk was checked
        }
      }
    }
  }
}

TEST(LoaderContent, NonFiniteKvWithValidChecksumsIsRecomputed) {
  const Fixture& f = fixture();
  // Encoders refuse NaN, so the frame is made honest and then every fp16 of
  // every layer's section rewritten to NaN, checksums resealed.
  auto to_nan = [](store::StoredChunk* c) {
    for (store::LevelFrame& l : c->levels) {
      const auto info = codec::peek_header(l.frame);
      KVF_CHECK(info.ok());
      for (int layer = 0; layer < info->shape.n_layers; ++layer) {
        std::string nan_section(info->section_size[static_cast<size_t>(layer)], '\0');
        for (size_t b = 0; b + 1 < nan_section.size(); b += 2) nan_section.replace(b, 2, "\x00\x7e", 2);
        l.frame = codec::testdata::with_section(l.frame, layer, nan_section);
      }
    }
  };
  auto lying = store_with_lie(2, other_text_kv(2), {"fp16"}, to_nan);
  BackendSource source(*lying);
  model::Session loaded(f.model), want(f.model);
  const LoadReport r = load(source, options("fp16"), &loaded);
  const LoadReport ref = load_with_chunk_corrupt(2, "fp16", &want);
  // The decoder may refuse the frame before the content check sees it.
  EXPECT_LE(r.content_mismatches, 1u);
  EXPECT_EQ(r.chunks[2].choice, "recompute");
  EXPECT_EQ(r.chunks[2].note.rfind("corrupt", 0), 0u) << r.chunks[2].note;
  EXPECT_EQ(r.logits, ref.logits);
  for (float x : r.logits) ASSERT_TRUE(std::isfinite(x));
  const kv::DenseKvF32 a = whole_cache(loaded), b = whole_cache(want);
  EXPECT_EQ(a.k, b.k);
  EXPECT_EQ(a.v, b.v);
}

}  // namespace
}  // namespace kvforge::stream

#include "kvforge/kv/kv_cache.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace kvforge::kv {
namespace {

std::vector<float> vec(int hd, float base) {
  std::vector<float> v(hd);
  for (int i = 0; i < hd; ++i) v[i] = base + 0.01f * i;
  return v;
}

TEST(KvHead, AppendRemoveReuseKeepsPositionOrder) {
  KvHead h(4);
  for (int p = 0; p < 6; ++p) EXPECT_EQ(h.append(p, vec(4, p).data(), vec(4, -p).data()), p);
  const int32_t victims[] = {1, 4};
  ASSERT_TRUE(h.remove(victims).ok());
  EXPECT_EQ(h.size(), 4u);
  EXPECT_EQ(std::vector<int32_t>(h.live_slots().begin(), h.live_slots().end()), (std::vector<int32_t>{0, 2, 3, 5}));
  // Freed slots are reused; the live list stays in position order.
  const int32_t s = h.append(6, vec(4, 6).data(), vec(4, -6).data());
  EXPECT_TRUE(s == 1 || s == 4);
  EXPECT_EQ(h.slot_capacity(), 6u);
  EXPECT_EQ(h.position(h.live_slots().back()), 6);
  EXPECT_FLOAT_EQ(h.key(s)[0], 6.0f);
  EXPECT_FLOAT_EQ(h.value(s)[3], -6.0f + 0.03f);
  EXPECT_EQ(h.count_visible(3), 3u);  // positions 0, 2, 3
  EXPECT_EQ(h.count_visible(100), 5u);
}

TEST(KvHead, RemoveRejectsDeadAndDuplicateSlotsAtomically) {
  KvHead h(2);
  for (int p = 0; p < 3; ++p) h.append(p, vec(2, p).data(), vec(2, p).data());
  const int32_t dup[] = {0, 0};
  Status s = h.remove(dup);
  EXPECT_TRUE(s.is_invalid_argument());
  EXPECT_NE(s.message().find("twice"), std::string::npos);
  const int32_t dead[] = {1, 7};
  s = h.remove(dead);
  EXPECT_TRUE(s.is_invalid_argument());
  EXPECT_NE(s.message().find("slot 7"), std::string::npos);
  EXPECT_EQ(h.size(), 3u);  // nothing removed by failed calls
  const int32_t ok[] = {2, 1, 0};
  EXPECT_TRUE(h.remove(ok).ok());
  EXPECT_EQ(h.size(), 0u);
}

TEST(KvHead, GatherCopiesRequestedSlots) {
  KvHead h(3);
  for (int p = 0; p < 5; ++p) h.append(p, vec(3, p).data(), vec(3, 10 + p).data());
  const int32_t want[] = {4, 1};
  std::vector<float> k(6), v(6);
  ASSERT_TRUE(h.gather(want, k.data(), v.data()).ok());
  EXPECT_FLOAT_EQ(k[0], 4.0f);
  EXPECT_FLOAT_EQ(k[3], 1.0f);
  EXPECT_FLOAT_EQ(v[3], 11.0f);
  const int32_t bad[] = {9};
  EXPECT_FALSE(h.gather(bad, k.data(), v.data()).ok());
}

TEST(KvCache, ExportImportRoundTripF32AndF16) {
  KvShape shape{2, 3, 4};
  KvCache cache(shape);
  for (int p = 0; p < 5; ++p) {
    for (int l = 0; l < 2; ++l) {
      for (int h = 0; h < 3; ++h) cache.head(l, h).append(p, vec(4, p + 10 * l + 100 * h).data(), vec(4, -p - l - h).data());
    }
  }
  cache.set_next_position(5);
  DenseKvF32 dense;
  ASSERT_TRUE(cache.export_range(1, 4, &dense).ok());
  EXPECT_EQ(dense.n_tokens, 3u);
  EXPECT_EQ(dense.positions, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_FLOAT_EQ(dense.k[dense.index(1, 2, 0)], 1 + 10 + 200);
  KvCache other(shape);
  ASSERT_TRUE(other.import_tokens(dense).ok());
  EXPECT_EQ(other.next_position(), 4);
  EXPECT_EQ(other.total_slots(), 2u * 3u * 3u);
  DenseKvF32 again;
  ASSERT_TRUE(other.export_range(0, 3, &again).ok());
  EXPECT_EQ(again.k, dense.k);
  EXPECT_EQ(again.v, dense.v);

  DenseKvF16 half;
  ASSERT_TRUE(cache.export_range(0, 5, &half).ok());
  KvCache from_half(shape);
  ASSERT_TRUE(from_half.import_tokens(half).ok());
  DenseKvF32 back;
  ASSERT_TRUE(from_half.export_range(0, 5, &back).ok());
  DenseKvF32 exact;
  ASSERT_TRUE(cache.export_range(0, 5, &exact).ok());
  for (size_t i = 0; i < exact.k.size(); ++i) EXPECT_NEAR(back.k[i], exact.k[i], std::abs(exact.k[i]) * 1e-3 + 1e-6);
}

TEST(KvCache, ExportAndImportCheckShapesAndRanges) {
  KvCache cache({1, 1, 2});
  cache.head(0, 0).append(0, vec(2, 0).data(), vec(2, 0).data());
  DenseKvF32 d;
  Status s = cache.export_range(0, 2, &d);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("live tokens"), std::string::npos);
  ASSERT_TRUE(cache.export_range(0, 1, &d).ok());
  KvCache wrong({2, 1, 2});
  s = wrong.import_tokens(d);
  EXPECT_TRUE(s.is_invalid_argument());
  EXPECT_NE(s.message().find("shape mismatch"), std::string::npos);
  d.k.pop_back();
  EXPECT_TRUE(KvCache({1, 1, 2}).import_tokens(d).is_invalid_argument());
}

TEST(KvCache, MemoryAccountingFollowsLiveSlots) {
  KvShape shape{2, 2, 8};
  KvCache cache(shape);
  EXPECT_EQ(KvCache::bytes_per_token(shape, 2), 2u * 2 * 8 * 2 * 2);
  for (int p = 0; p < 10; ++p) {
    for (int l = 0; l < 2; ++l)
      for (int h = 0; h < 2; ++h) cache.head(l, h).append(p, vec(8, p).data(), vec(8, p).data());
  }
  EXPECT_EQ(KvCache::bytes_per_token(shape, KvType::kF16), 2u * 2 * 8 * 2 * 2);
  EXPECT_EQ(cache.bytes_per_token(), 2u * 2 * 8 * 2 * 4);  // this cache is F32
  EXPECT_EQ(KvCache::position_bytes_per_token(shape), 2u * 2 * 4);
  // K+V (what llama.cpp counts) and the int32 positions apart.
  const size_t full = cache.bytes_live();
  EXPECT_EQ(full, 40u * 2 * 4 * 8);
  EXPECT_EQ(cache.position_bytes_live(), 40u * 4);
  std::vector<int32_t> half(5);
  std::iota(half.begin(), half.end(), 0);
  ASSERT_TRUE(cache.head(0, 0).remove(half).ok());
  EXPECT_EQ(cache.bytes_live(), full - 5 * (2 * 4 * 8));
  EXPECT_EQ(cache.position_bytes_live(), 35u * 4);
  EXPECT_EQ(cache.max_head_size(), 10u);
  const size_t allocated = cache.bytes_allocated();
  for (int p = 10; p < 15; ++p) cache.head(0, 0).append(p, vec(8, p).data(), vec(8, p).data());
  EXPECT_EQ(cache.bytes_allocated(), allocated);  // appends reused the freed slots
}

}  // namespace
}  // namespace kvforge::kv

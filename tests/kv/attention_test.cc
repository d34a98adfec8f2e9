#include "kvforge/kv/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>
#include <vector>

#include "kvforge/core/thread_pool.h"

namespace kvforge::kv {
namespace {

// Plain softmax attention for one query over explicit keys/values.
std::vector<float> reference(const float* q, const std::vector<std::vector<float>>& ks,
                             const std::vector<std::vector<float>>& vs, int hd) {
  std::vector<float> s(ks.size());
  float m = -1e30f;
  for (size_t i = 0; i < ks.size(); ++i) {
    double d = 0;
    for (int j = 0; j < hd; ++j) d += q[j] * ks[i][j];
    s[i] = static_cast<float>(d / std::sqrt(hd));
    m = std::max(m, s[i]);
  }
  double z = 0;
  for (auto& x : s) z += (x = std::exp(x - m));
  std::vector<float> out(hd, 0);
  for (size_t i = 0; i < ks.size(); ++i)
    for (int j = 0; j < hd; ++j) out[j] += static_cast<float>(s[i] / z) * vs[i][j];
  return out;
}

struct Fixture {
  int hd = 8, n_heads = 4, n_kv = 2, n_tok = 6;
  KvCache cache{KvShape{1, 2, 8}};
  std::vector<std::vector<std::vector<float>>> keys, values;  // [kv][tok][hd]
  std::vector<float> q;
  std::vector<int32_t> pos;
  Fixture() {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    keys.assign(n_kv, {});
    values.assign(n_kv, {});
    for (int t = 0; t < n_tok; ++t) {
      for (int h = 0; h < n_kv; ++h) {
        std::vector<float> k(hd), v(hd);
        for (auto& x : k) x = nd(rng);
        for (auto& x : v) x = nd(rng);
        cache.head(0, h).append(t, k.data(), v.data());
        keys[h].push_back(k);
        values[h].push_back(v);
      }
      pos.push_back(t);
    }
    q.resize(size_t(n_tok) * n_heads * hd);
    for (auto& x : q) x = nd(rng);
  }
};

class Recorder : public AttentionObserver {
 public:
  struct Call {
    int layer, q_head, kv_head;
    int32_t pos;
    std::vector<int32_t> slots;
    std::vector<float> probs;
  };
  std::vector<Call> calls;
  std::mutex mu;  // different kv heads may report from different threads
  void on_attention(int layer, int q_head, int kv_head, int32_t p, std::span<const int32_t> slots,
                    std::span<const float> probs) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back({layer, q_head, kv_head, p, {slots.begin(), slots.end()}, {probs.begin(), probs.end()}});
  }
};

TEST(Attention, CausalGqaMatchesReferenceSerialAndParallel) {
  Fixture f;
  for (int threads : {1, 3}) {
    core::ThreadPool pool(threads);
    std::vector<float> out(f.q.size());
    AttentionBatch b{0, f.n_heads, size_t(f.n_tok), f.pos.data(), f.q.data(), out.data()};
    attend(KvView{&f.cache, nullptr, nullptr}, b, &pool);
    for (int t = 0; t < f.n_tok; ++t) {
      for (int h = 0; h < f.n_heads; ++h) {
        const int kv = h / 2;  // two query heads share one kv head
        std::vector<std::vector<float>> ks(f.keys[kv].begin(), f.keys[kv].begin() + t + 1);
        std::vector<std::vector<float>> vs(f.values[kv].begin(), f.values[kv].begin() + t + 1);
        auto want = reference(&f.q[(size_t(t) * f.n_heads + h) * f.hd], ks, vs, f.hd);
        for (int j = 0; j < f.hd; ++j) EXPECT_NEAR(out[(size_t(t) * f.n_heads + h) * f.hd + j], want[j], 1e-5);
      }
    }
  }
}

TEST(Attention, ObserverSeesEveryQueryHeadInOrderWithNormalizedRows) {
  Fixture f;
  Recorder rec;
  core::ThreadPool pool(2);
  std::vector<float> out(f.q.size());
  AttentionBatch b{0, f.n_heads, size_t(f.n_tok), f.pos.data(), f.q.data(), out.data()};
  attend(KvView{&f.cache, nullptr, &rec}, b, &pool);
  ASSERT_EQ(rec.calls.size(), size_t(f.n_tok) * f.n_heads);
  std::vector<int32_t> last_pos(f.n_kv, -1);
  std::vector<int> last_head(f.n_kv, -1);
  for (size_t i = 0; i < rec.calls.size(); ++i) {
    const auto& c = rec.calls[i];
    // Per kv head: query order, and the group's heads in order within a token.
    const bool next_head = c.pos == last_pos[c.kv_head] && c.q_head == last_head[c.kv_head] + 1;
    const bool next_token = c.pos == last_pos[c.kv_head] + 1 && c.q_head == c.kv_head * 2;
    EXPECT_TRUE(next_head || next_token) << "call " << i;
    last_pos[c.kv_head] = c.pos;
    last_head[c.kv_head] = c.q_head;
    EXPECT_EQ(c.kv_head, c.q_head / 2);
    EXPECT_EQ(c.slots.size(), size_t(c.pos) + 1);  // causal
    double sum = 0;
    for (float p : c.probs) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

// Restricts every query to slots with even positions.
class EvenOnly : public SlotSelector {
 public:
  void select(int, int, int32_t, const KvHead& head, std::span<const float>, std::span<const int32_t> candidates,
              std::vector<int32_t>* selected) override {
    for (int32_t s : candidates)
      if (head.position(s) % 2 == 0) selected->push_back(s);
  }
};

TEST(Attention, SelectorRestrictsVisibleSlots) {
  Fixture f;
  EvenOnly sel;
  Recorder rec;
  std::vector<float> out(f.q.size());
  AttentionBatch b{0, f.n_heads, size_t(f.n_tok), f.pos.data(), f.q.data(), out.data()};
  attend(KvView{&f.cache, &sel, &rec}, b, nullptr);
  const int t = 5, h = 3, kv = 1;
  std::vector<std::vector<float>> ks, vs;
  for (int p = 0; p <= t; p += 2) {
    ks.push_back(f.keys[kv][p]);
    vs.push_back(f.values[kv][p]);
  }
  auto want = reference(&f.q[(size_t(t) * f.n_heads + h) * f.hd], ks, vs, f.hd);
  for (int j = 0; j < f.hd; ++j) EXPECT_NEAR(out[(size_t(t) * f.n_heads + h) * f.hd + j], want[j], 1e-5);
  for (const auto& c : rec.calls) {
    for (int32_t s : c.slots) EXPECT_EQ(f.cache.head(0, c.kv_head).position(s) % 2, 0);
  }
}

// Selects every candidate and serves the second and third selected slots' K/V
// itself, with rows unlike anything in the cache (as a tier would serve them).
class ServesTwoSlots : public SlotSelector {
 public:
  explicit ServesTwoSlots(int hd) : hd_(hd) {
    for (int i = 0; i < 2 * hd; ++i) {
      keys.push_back(0.3f * static_cast<float>(i % 5) - 0.6f);
      values.push_back(100.0f + static_cast<float>(i));
    }
  }
  void select(int, int, int32_t, const KvHead&, std::span<const float>, std::span<const int32_t> candidates,
              std::vector<int32_t>* selected) override {
    selected->assign(candidates.begin(), candidates.end());
  }
  void select_and_gather(int layer, int kv_head, int32_t qpos, const KvHead& head, std::span<const float> queries,
                         std::span<const int32_t> candidates, std::vector<int32_t>* selected,
                         GatheredKv* gathered) override {
    select(layer, kv_head, qpos, head, queries, candidates, selected);
    gathered->clear();
    if (selected->size() < 3) return;
    gathered->resize(1, 2, hd_);
    std::copy(keys.begin(), keys.end(), gathered->keys.begin());
    std::copy(values.begin(), values.end(), gathered->values.begin());
  }
  std::vector<float> keys, values;  // [2][hd]

 private:
  int hd_;
};

TEST(Attention, GatheredRowsReplaceTheCachedKeysAndValuesOfTheirSlots) {
  Fixture f;
  ServesTwoSlots sel(f.hd);
  std::vector<float> plain(f.q.size()), out(f.q.size()), observed(f.q.size());
  AttentionBatch b{0, f.n_heads, size_t(f.n_tok), f.pos.data(), f.q.data(), plain.data()};
  attend(KvView{&f.cache, nullptr, nullptr}, b, nullptr);
  core::ThreadPool pool(3);
  b.out = out.data();
  attend(KvView{&f.cache, &sel, nullptr}, b, &pool);
  Recorder rec;  // the observer path reads the same rows
  b.out = observed.data();
  attend(KvView{&f.cache, &sel, &rec}, b, &pool);
  EXPECT_EQ(observed, out);
  for (int t = 0; t < f.n_tok; ++t) {
    for (int h = 0; h < f.n_heads; ++h) {
      const int kv = h / 2;
      std::vector<std::vector<float>> ks(f.keys[kv].begin(), f.keys[kv].begin() + t + 1);
      std::vector<std::vector<float>> vs(f.values[kv].begin(), f.values[kv].begin() + t + 1);
      if (t >= 2) {  // three slots or more: slots 1 and 2 are served by the selector
        for (int r = 0; r < 2; ++r) {
          ks[1 + r].assign(sel.keys.begin() + r * f.hd, sel.keys.begin() + (r + 1) * f.hd);
          vs[1 + r].assign(sel.values.begin() + r * f.hd, sel.values.begin() + (r + 1) * f.hd);
        }
      }
      const size_t at = (size_t(t) * f.n_heads + h) * f.hd;
      const auto want = reference(&f.q[at], ks, vs, f.hd);
      for (int j = 0; j < f.hd; ++j) ASSERT_NEAR(out[at + j], want[j], 1e-4) << t << " " << h << " " << j;
      // The served values are ~100 where the cache's are ~N(0, 1): the output follows them.
      if (t >= 2) {
        EXPECT_GT(std::fabs(out[at] - plain[at]), 1.0f) << t << " " << h;
      } else {
        for (int j = 0; j < f.hd; ++j) EXPECT_EQ(out[at + j], plain[at + j]);
      }
    }
  }
}

TEST(Attention, SelectorsThatOnlySelectGatherNothing) {
  Fixture f;
  EvenOnly sel;
  GatheredKv gathered;
  gathered.resize(0, 1, f.hd);  // left from an earlier call: the default clears it
  std::vector<int32_t> selected;
  const KvHead& head = f.cache.head(0, 0);
  sel.select_and_gather(0, 0, 5, head, {}, head.live_slots(), &selected, &gathered);
  EXPECT_EQ(gathered.rows, 0u);
  EXPECT_EQ(selected, (std::vector<int32_t>{0, 2, 4}));
}

TEST(Attention, EvictedSlotsAreNotAttended) {
  Fixture f;
  const int32_t gone[] = {0, 3};
  ASSERT_TRUE(f.cache.head(0, 0).remove(gone).ok());
  Recorder rec;
  std::vector<float> out(size_t(f.n_heads) * f.hd);
  const int32_t p = 5;
  AttentionBatch b{0, f.n_heads, 1, &p, f.q.data() + size_t(5) * f.n_heads * f.hd, out.data()};
  attend(KvView{&f.cache, nullptr, &rec}, b, nullptr);
  for (const auto& c : rec.calls) {
    if (c.kv_head == 0) {
      EXPECT_EQ(c.slots, (std::vector<int32_t>{1, 2, 4, 5}));
    } else {
      EXPECT_EQ(c.slots.size(), 6u);
    }
  }
}

}  // namespace
}  // namespace kvforge::kv

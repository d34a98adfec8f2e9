#include "kvforge/kv/attention.h"

#include <gtest/gtest.h>

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

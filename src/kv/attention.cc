#include "kvforge/kv/attention.h"

#include <cmath>
#include <vector>

#include "kvforge/core/kernels.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::kv {

namespace {

// Small heads (tiny models) spend more on the dispatch of a vector kernel than
// on the arithmetic, so they take plain loops the compiler unrolls.
constexpr int kSmallHead = 16;

inline float dot(const float* a, const float* b, int n) {
  if (n > kSmallHead) return core::dot_f32(a, b, static_cast<size_t>(n));
  float s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void axpy(float w, const float* x, float* y, int n) {
  if (n > kSmallHead) return core::axpy_f32(w, x, y, static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) y[i] += w * x[i];
}

struct Scratch {
  std::vector<int32_t> selected;
  std::vector<float> scores;
};

// One query token, all query heads of one kv head's group.
void attend_group(const KvView& view, const AttentionBatch& b, size_t t, int kv_head, Scratch* scratch) {
  const KvShape& shape = view.cache->shape();
  const int hd = shape.head_dim;
  const int group = b.n_heads / shape.n_kv_heads;
  const KvHead& head = view.cache->head(b.layer, kv_head);
  const int32_t qpos = b.positions[t];
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float* q_group = b.q + (t * b.n_heads + static_cast<size_t>(kv_head) * group) * hd;
  float* out_group = b.out + (t * b.n_heads + static_cast<size_t>(kv_head) * group) * hd;

  std::span<const int32_t> slots = head.live_slots().first(head.count_visible(qpos));
  if (view.selector != nullptr) {
    scratch->selected.clear();
    view.selector->select(b.layer, kv_head, qpos, head,
                          std::span<const float>(q_group, static_cast<size_t>(group) * hd), slots,
                          &scratch->selected);
    slots = scratch->selected;
  }
  const size_t n = slots.size();
  scratch->scores.resize(n);
  for (int g = 0; g < group; ++g) {
    const float* q = q_group + static_cast<size_t>(g) * hd;
    float* out = out_group + static_cast<size_t>(g) * hd;
    float* scores = scratch->scores.data();
    for (size_t i = 0; i < n; ++i) scores[i] = dot(q, head.key(slots[i]), hd) * scale;
    core::softmax_f32(scores, n);
    for (int d = 0; d < hd; ++d) out[d] = 0.0f;
    for (size_t i = 0; i < n; ++i) axpy(scores[i], head.value(slots[i]), out, hd);
    if (view.observer != nullptr) {
      view.observer->on_attention(b.layer, kv_head * group + g, kv_head, qpos, slots,
                                  std::span<const float>(scores, n));
    }
  }
}

}  // namespace

void attend(const KvView& view, const AttentionBatch& batch, core::ThreadPool* pool) {
  const size_t n_kv = static_cast<size_t>(view.cache->shape().n_kv_heads);
  if (view.observer != nullptr) {
    auto run_heads = [&](size_t begin, size_t end) {
      thread_local Scratch scratch;
      for (size_t h = begin; h < end; ++h) {
        for (size_t t = 0; t < batch.n_tokens; ++t) attend_group(view, batch, t, static_cast<int>(h), &scratch);
      }
    };
    if (pool == nullptr) {
      run_heads(0, n_kv);
    } else {
      pool->parallel_for(n_kv, run_heads);
    }
    return;
  }
  const size_t jobs = batch.n_tokens * n_kv;
  auto run = [&](size_t begin, size_t end) {
    thread_local Scratch scratch;
    for (size_t j = begin; j < end; ++j) attend_group(view, batch, j / n_kv, static_cast<int>(j % n_kv), &scratch);
  };
  if (pool == nullptr || jobs == 1) {
    run(0, jobs);
  } else {
    pool->parallel_for(jobs, run);
  }
}

}  // namespace kvforge::kv

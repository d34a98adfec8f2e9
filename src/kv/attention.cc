#include "kvforge/kv/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kvforge/core/half.h"
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

// Over an F16 cache attention computes as llama.cpp's does: the query is
// rounded to fp16 before Q.K (ggml converts it to the keys' type) and the
// softmax weights before P.V (likewise for the values).
void round_to_f16(const float* x, float* out, size_t n) { core::round_to_fp16_row(x, out, n); }

// scores[i] = scale * q . key(slots[i]) for i in [i0, i1), and y += sum over
// the same range of w[i] * value(slots[i]): per slot on an F32 cache (the loop
// llama2.c's run.c is matched with), one fused kernel call on an F16 one.
// Heads of kSmallHead or fewer elements keep the scalar loops dot() and axpy() run
// (the same sums as fp32 rows gathered by a selector).
void score_range(const KvHead& head, std::span<const int32_t> slots, size_t i0, size_t i1, const float* q, int n,
                 float scale, float* scores) {
  if (i1 <= i0) return;
  if (head.type() == KvType::kF32) {
    for (size_t i = i0; i < i1; ++i) scores[i] = dot(q, head.key(slots[i]), n) * scale;
  } else if (n > kSmallHead) {
    core::dot_slots_f16(head.keys_f16(), slots.data() + i0, i1 - i0, static_cast<size_t>(n), q, scale, scores + i0);
  } else {
    for (size_t i = i0; i < i1; ++i) {
      const uint16_t* k = head.key_f16(slots[i]);
      float s = 0;
      for (int j = 0; j < n; ++j) s += q[j] * core::fp16_to_f32(k[j]);
      scores[i] = s * scale;
    }
  }
}

void value_range(const KvHead& head, std::span<const int32_t> slots, size_t i0, size_t i1, const float* w, float* y,
                 int n) {
  if (i1 <= i0) return;
  if (head.type() == KvType::kF32) {
    for (size_t i = i0; i < i1; ++i) axpy(w[i], head.value(slots[i]), y, n);
  } else if (n > kSmallHead) {
    core::axpy_slots_f16(head.values_f16(), slots.data() + i0, i1 - i0, static_cast<size_t>(n), w + i0, y);
  } else {
    for (size_t i = i0; i < i1; ++i) {
      const uint16_t* v = head.value_f16(slots[i]);
      for (int j = 0; j < n; ++j) y[j] += w[i] * core::fp16_to_f32(v[j]);
    }
  }
}

struct Scratch {
  std::vector<int32_t> selected;
  GatheredKv gathered;
  std::vector<float> scores;
  std::vector<float> q16;  // the group's queries rounded to fp16 (F16 cache)
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
  GatheredKv& gathered = scratch->gathered;
  gathered.clear();
  if (view.selector != nullptr) {
    scratch->selected.clear();
    view.selector->select_and_gather(b.layer, kv_head, qpos, head,
                                     std::span<const float>(q_group, static_cast<size_t>(group) * hd), slots,
                                     &scratch->selected, &gathered);
    slots = scratch->selected;
    KVF_CHECK(gathered.first + gathered.rows <= slots.size() &&
              gathered.keys.size() >= gathered.rows * static_cast<size_t>(hd) &&
              gathered.values.size() >= gathered.rows * static_cast<size_t>(hd));
  }
  const size_t n = slots.size();
  // Slots [g0, g1) are read from the gathered rows, the rest from the cache.
  // Three plain loops in slot order rather than a test per slot: without
  // gathered rows the first two are empty and the loop is the one it always
  // was; with them, the sums run in the same order over the same numbers.
  const size_t g0 = gathered.first, g1 = gathered.first + gathered.rows;
  const float* gathered_k = gathered.keys.data();
  const float* gathered_v = gathered.values.data();
  scratch->scores.resize(n);
  const bool f16 = head.type() == KvType::kF16;
  if (f16) {
    scratch->q16.resize(static_cast<size_t>(group) * hd);
    round_to_f16(q_group, scratch->q16.data(), scratch->q16.size());
    q_group = scratch->q16.data();
  }
  for (int g = 0; g < group; ++g) {
    const float* q = q_group + static_cast<size_t>(g) * hd;
    float* out = out_group + static_cast<size_t>(g) * hd;
    float* scores = scratch->scores.data();
    score_range(head, slots, 0, g0, q, hd, scale, scores);
    for (size_t i = g0; i < g1; ++i) scores[i] = dot(q, gathered_k + (i - g0) * hd, hd) * scale;
    score_range(head, slots, g1, n, q, hd, scale, scores);
    core::softmax_f32(scores, n);
    if (f16) round_to_f16(scores, scores, n);
    for (int d = 0; d < hd; ++d) out[d] = 0.0f;
    value_range(head, slots, 0, g0, scores, out, hd);
    for (size_t i = g0; i < g1; ++i) axpy(scores[i], gathered_v + (i - g0) * hd, out, hd);
    value_range(head, slots, g1, n, scores, out, hd);
    if (view.observer != nullptr) {
      view.observer->on_attention(b.layer, kv_head * group + g, kv_head, qpos, slots,
                                  std::span<const float>(scores, n));
    }
  }
}

// From this many query tokens on, plain causal attention runs as two matrix
// products per query head (scores = Q K^T, out = P V) through BLAS.
constexpr size_t kGemmMinTokens = 16;
// Below this many key elements touched per call, attention stays on one thread.
constexpr size_t kMinParallelWork = size_t{1} << 16;

// Batched causal attention for one layer, no selector and no observer. Keys of
// every kv head are used in place when its live slots are 0..N-1 in order (no
// eviction happened) on an F32 cache, else gathered as fp32 first. Query heads
// then run in parallel, each through two single-threaded BLAS products: one
// multi-threaded BLAS call per head cost more in wake-ups than the products.
void attend_gemm(const KvView& view, const AttentionBatch& b, core::ThreadPool* pool) {
  const KvShape& shape = view.cache->shape();
  const size_t hd = static_cast<size_t>(shape.head_dim);
  const size_t n_kv = static_cast<size_t>(shape.n_kv_heads);
  const size_t group = static_cast<size_t>(b.n_heads) / n_kv;
  const size_t ld_q = static_cast<size_t>(b.n_heads) * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool f16 = view.cache->type() == KvType::kF16;
  thread_local std::vector<float> tl_q16;
  const float* queries = b.q;
  if (f16) {
    tl_q16.resize(b.n_tokens * ld_q);
    round_to_f16(b.q, tl_q16.data(), tl_q16.size());
    queries = tl_q16.data();
  }
  // Per kv head: visible keys per token, and where its keys and values are.
  struct HeadKv {
    std::vector<size_t> visible;
    std::vector<float> k_buf, v_buf;
    const float* keys = nullptr;
    const float* values = nullptr;
  };
  thread_local std::vector<HeadKv> tl_heads;
  std::vector<HeadKv>& heads = tl_heads;  // named here: the workers read this thread's
  heads.resize(n_kv);
  for (size_t h = 0; h < n_kv; ++h) {
    const KvHead& head = view.cache->head(b.layer, static_cast<int>(h));
    HeadKv& kv = heads[h];
    kv.visible.resize(b.n_tokens);
    for (size_t t = 0; t < b.n_tokens; ++t) kv.visible[t] = head.count_visible(b.positions[t]);
    const size_t n_keys = kv.visible.back();
    auto live = head.live_slots();
    bool in_place = head.type() == KvType::kF32;
    for (size_t i = 0; i < n_keys && in_place; ++i) in_place = live[i] == static_cast<int32_t>(i);
    if (in_place) {
      kv.keys = head.key(0);
      kv.values = head.value(0);
      continue;
    }
    kv.k_buf.resize(n_keys * hd);
    kv.v_buf.resize(n_keys * hd);
    (void)head.gather(live.first(n_keys), kv.k_buf.data(), kv.v_buf.data());
    kv.keys = kv.k_buf.data();
    kv.values = kv.v_buf.data();
  }
  const auto run_heads = [&](size_t h0, size_t h1) {
    thread_local std::vector<float> scores;
    for (size_t q_head = h0; q_head < h1; ++q_head) {
      const HeadKv& kv = heads[q_head / group];
      const size_t n_keys = kv.visible.back();
      scores.resize(b.n_tokens * n_keys);
      core::gemm_f32(b.n_tokens, n_keys, hd, queries + q_head * hd, ld_q, kv.keys, hd, /*b_transposed=*/true,
                     scores.data(), n_keys, nullptr);
      for (size_t t = 0; t < b.n_tokens; ++t) {
        float* row = scores.data() + t * n_keys;
        core::scale_f32(row, scale, kv.visible[t]);
        core::softmax_f32(row, kv.visible[t]);
        if (f16) round_to_f16(row, row, kv.visible[t]);
        std::fill(row + kv.visible[t], row + n_keys, 0.0f);  // causal mask
      }
      core::gemm_f32(b.n_tokens, hd, n_keys, scores.data(), n_keys, kv.values, hd, /*b_transposed=*/false,
                     b.out + q_head * hd, ld_q, nullptr);
    }
  };
  if (pool == nullptr) {
    run_heads(0, static_cast<size_t>(b.n_heads));
  } else {
    pool->parallel_for(static_cast<size_t>(b.n_heads), run_heads);
  }
}

}  // namespace

void attend(const KvView& view, const AttentionBatch& batch, core::ThreadPool* pool) {
  if (view.observer == nullptr && view.selector == nullptr && batch.n_tokens >= kGemmMinTokens) {
    attend_gemm(view, batch, pool);
    return;
  }
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
  // Waking workers costs microseconds (far more on a loaded machine): small
  // heads over short contexts are cheaper on the calling thread alone.
  const size_t work = jobs * view.cache->max_head_size() * static_cast<size_t>(view.cache->shape().head_dim);
  if (pool == nullptr || jobs == 1 || work < kMinParallelWork) {
    run(0, jobs);
  } else {
    pool->parallel_for(jobs, run);
  }
}

}  // namespace kvforge::kv

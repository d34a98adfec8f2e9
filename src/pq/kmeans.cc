// k-means for the product quantizer's codebooks: sub-sampling, k-means++
// seeding and Lloyd iterations, the assignment step spread over a thread pool.
#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kvforge/core/thread_pool.h"
#include "kvforge/pq/product_quantizer.h"

namespace kvforge::pq {

namespace {

// Eight independent partial sums: the compiler turns them into vector lanes
// without -ffast-math (key sub-vectors of 64 floats dominate training time).
inline float l2sq(const float* a, const float* b, int d) {
  float acc[8] = {};
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    for (int l = 0; l < 8; ++l) {
      const float t = a[i + l] - b[i + l];
      acc[l] += t * t;
    }
  }
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < d; ++i) {
    const float t = a[i] - b[i];
    s += t * t;
  }
  return s;
}
// Below this many points the assignment step stays on the calling thread.
constexpr size_t kParallelPoints = 2048;

void for_points(size_t n, core::ThreadPool* pool, const std::function<void(size_t, size_t)>& fn) {
  if (pool == nullptr || pool->size() == 1 || n < kParallelPoints) {
    fn(0, n);
  } else {
    pool->parallel_for(n, fn, 256);
  }
}

// Large sets are sub-sampled to `cap` points (a partial Fisher-Yates shuffle
// of the indices, kept in file order) into `sample`.
void subsample(const float* x, size_t n, size_t dd, size_t cap, std::mt19937_64& rng, std::vector<float>* sample) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t{0});
  for (size_t i = 0; i < cap; ++i) std::swap(idx[i], idx[i + rng() % (n - i)]);
  std::sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(cap));
  sample->resize(cap * dd);
  for (size_t i = 0; i < cap; ++i) std::memcpy(&(*sample)[i * dd], x + idx[i] * dd, dd * sizeof(float));
}

// k-means++ seeding: each next centroid drawn with probability proportional
// to its squared distance from the centroids chosen so far.
void seed_plus_plus(const float* x, size_t n, int d, int k, std::mt19937_64& rng, std::vector<float>* centroids) {
  const size_t dd = static_cast<size_t>(d);
  std::vector<float>& c = *centroids;
  c.assign(static_cast<size_t>(k) * dd, 0.0f);
  std::vector<float> dist(n, std::numeric_limits<float>::infinity());
  size_t pick = rng() % n;
  for (int j = 0; j < k; ++j) {
    std::memcpy(&c[static_cast<size_t>(j) * dd], x + pick * dd, dd * sizeof(float));
    if (j + 1 == k) break;
    const float* cj = &c[static_cast<size_t>(j) * dd];
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      dist[i] = std::min(dist[i], l2sq(x + i * dd, cj, d));
      total += dist[i];
    }
    if (total <= 0) {  // every point is already a centroid: duplicate one
      pick = rng() % n;
      continue;
    }
    double r = std::uniform_real_distribution<double>(0.0, total)(rng);
    pick = n - 1;
    for (size_t i = 0; i < n; ++i) {
      r -= dist[i];
      if (r <= 0 && dist[i] > 0) {
        pick = i;
        break;
      }
    }
  }
}

// Buffers of the Lloyd iterations, sized once.
struct LloydState {
  std::vector<int> assign;   // (n) nearest centroid of each point
  std::vector<float> err;    // (n) its squared distance
  std::vector<double> sums;  // (k, d) coordinates summed per centroid
  std::vector<size_t> counts;  // (k)
};

// One Lloyd iteration: assign every point, then move each centroid to its
// points' mean. Returns whether any centroid moved.
bool lloyd_step(const float* x, size_t n, int d, int k, core::ThreadPool* pool, LloydState* s,
                std::vector<float>* centroids) {
  const size_t dd = static_cast<size_t>(d);
  std::vector<float>& c = *centroids;
  for_points(n, pool, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      s->assign[i] = nearest_centroid(x + i * dd, c.data(), k, d);
      s->err[i] = l2sq(x + i * dd, &c[static_cast<size_t>(s->assign[i]) * dd], d);
    }
  });
  std::fill(s->sums.begin(), s->sums.end(), 0.0);
  std::fill(s->counts.begin(), s->counts.end(), size_t{0});
  for (size_t i = 0; i < n; ++i) {
    const size_t a = static_cast<size_t>(s->assign[i]);
    ++s->counts[a];
    for (size_t t = 0; t < dd; ++t) s->sums[a * dd + t] += x[i * dd + t];
  }
  bool changed = false;
  for (size_t j = 0; j < static_cast<size_t>(k); ++j) {
    float* cj = &c[j * dd];
    if (s->counts[j] == 0) {
      // Re-seed an empty cluster on the point worst served so far.
      const size_t far = static_cast<size_t>(std::max_element(s->err.begin(), s->err.end()) - s->err.begin());
      if (s->err[far] <= 0) continue;
      std::memcpy(cj, x + far * dd, dd * sizeof(float));
      s->err[far] = 0;
      changed = true;
      continue;
    }
    for (size_t t = 0; t < dd; ++t) {
      const float v = static_cast<float>(s->sums[j * dd + t] / static_cast<double>(s->counts[j]));
      changed |= v != cj[t];
      cj[t] = v;
    }
  }
  return changed;
}

}  // namespace

int nearest_centroid(const float* x, const float* centroids, int k, int d) {
  int best = 0;
  float best_d = std::numeric_limits<float>::infinity();
  for (int c = 0; c < k; ++c) {
    const float dist = l2sq(x, centroids + static_cast<size_t>(c) * d, d);
    if (dist < best_d) {
      best_d = dist;
      best = c;
    }
  }
  return best;
}

Status kmeans(const float* x, size_t n, int d, int k, const KMeansOptions& options, core::ThreadPool* pool,
              std::vector<float>* centroids) {
  if (n == 0 || d < 1 || k < 1) {
    return Status::InvalidArgument("kmeans: need at least one point, d >= 1 and k >= 1 (got n=" + std::to_string(n) +
                                   ", d=" + std::to_string(d) + ", k=" + std::to_string(k) + ")");
  }
  const size_t dd = static_cast<size_t>(d);
  std::mt19937_64 rng(options.seed);
  std::vector<float> sample;
  const size_t cap = static_cast<size_t>(k) * std::max<size_t>(1, options.max_points_per_centroid);
  if (n > cap) {
    subsample(x, n, dd, cap, rng, &sample);
    x = sample.data();
    n = cap;
  }
  seed_plus_plus(x, n, d, k, rng, centroids);
  LloydState state{std::vector<int>(n), std::vector<float>(n), std::vector<double>(static_cast<size_t>(k) * dd),
                   std::vector<size_t>(static_cast<size_t>(k))};
  for (int it = 0; it < options.iterations; ++it) {
    if (!lloyd_step(x, n, d, k, pool, &state, centroids)) break;
  }
  return Status::OK();
}

}  // namespace kvforge::pq

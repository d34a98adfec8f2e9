#include "codec/plane_basis.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <numeric>


namespace kvforge::codec {

namespace {

// cos/sin of position * freq_p for every token and pair, [token][pair]. Angles
// advance by one rotation per token (double precision, re-anchored every 64 tokens),
// which is far cheaper than a sincos per element and agrees with the runtime's RoPE
// to ~1e-6 relative.
void rope_table(size_t T, int D, int32_t first, float theta, std::vector<float>* cs, std::vector<float>* sn) {
  const int P = D / 2;
  cs->resize(T * P);
  sn->resize(T * P);
  for (int p = 0; p < P; ++p) {
    const double freq = 1.0 / std::pow(static_cast<double>(theta), 2.0 * p / D);
    const double dc = std::cos(freq), ds = std::sin(freq);
    double c = 0, s = 0;
    for (size_t t = 0; t < T; ++t) {
      if (t % 64 == 0) {
        const double a = (static_cast<double>(first) + static_cast<double>(t)) * freq;
        c = std::cos(a);
        s = std::sin(a);
      } else {
        const double c2 = c * dc - s * ds;
        s = s * dc + c * ds;
        c = c2;
      }
      (*cs)[t * P + p] = static_cast<float>(c);
      (*sn)[t * P + p] = static_cast<float>(s);
    }
  }
}

// Rotates every (head, token) vector of a plane by +angle (dir = 1) or -angle (dir = -1).
void rotate(const PlaneBasis& b, size_t T, int32_t first, int dir, float* x) {
  if (!(b.rope_theta > 0) || T == 0) return;
  std::vector<float> cs, sn;
  const int D = b.head_dim, P = D / 2;
  rope_table(T, D, first, b.rope_theta, &cs, &sn);
  for (int h = 0; h < b.n_heads; ++h)
    for (size_t t = 0; t < T; ++t) {
      float* v = x + (static_cast<size_t>(h) * T + t) * D;
      const float* c = &cs[t * P];
      const float* s = &sn[t * P];
      for (int p = 0; p < P; ++p) {
        const float v0 = v[2 * p], v1 = v[2 * p + 1], si = dir * s[p];
        v[2 * p] = v0 * c[p] - v1 * si;
        v[2 * p + 1] = v0 * si + v1 * c[p];
      }
    }
}

// r[t] = a[t] M for n rows of B floats (row t of a at a + t * lda, of r at r + t * ldr;
// M: B x B row-major). A row is read whole before it is written, so r may equal a.
// A portable version and, for blocks of 8, 16, 32 or 64, an AVX2+FMA one chosen at
// run time.
void rows_generic(const float* a, size_t lda, const float* m, float* r, size_t ldr, size_t n, int B) {
  std::vector<float> acc(static_cast<size_t>(B));
  for (size_t t = 0; t < n; ++t) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const float* at = a + t * lda;
    for (int i = 0; i < B; ++i) {
      const float ai = at[i];
      const float* mi = m + static_cast<size_t>(i) * B;
      for (int j = 0; j < B; ++j) acc[j] += ai * mi[j];
    }
    std::copy(acc.begin(), acc.end(), r + t * ldr);
  }
}

#if defined(__x86_64__)
// kB / 8 accumulators of 8 lanes, one broadcast FMA per input.
template <int kB>
__attribute__((target("avx2,fma"))) void rows_avx2(const float* a, size_t lda, const float* m, float* r, size_t ldr,
                                                   size_t n, int) {
  static_assert(kB % 8 == 0 && kB > 0);
  for (size_t t = 0; t < n; ++t) {
    __m256 acc[kB / 8];
    for (int k = 0; k < kB / 8; ++k) acc[k] = _mm256_setzero_ps();
    for (int i = 0; i < kB; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + t * lda + i);
      const float* mi = m + static_cast<size_t>(i) * kB;
      for (int k = 0; k < kB / 8; ++k) acc[k] = _mm256_fmadd_ps(ai, _mm256_loadu_ps(mi + 8 * k), acc[k]);
    }
    for (int k = 0; k < kB / 8; ++k) _mm256_storeu_ps(r + t * ldr + 8 * k, acc[k]);
  }
}
#endif

using RowsFn = void (*)(const float*, size_t, const float*, float*, size_t, size_t, int);

RowsFn rows_kernel(int B) {
#if defined(__x86_64__)
  // KVF_CODEC_NO_SIMD (as for the symbol decoder) forces the portable kernel, for tests.
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                           std::getenv("KVF_CODEC_NO_SIMD") == nullptr;
  if (avx2) {
    switch (B) {
      case 8: return rows_avx2<8>;
      case 16: return rows_avx2<16>;
      case 32: return rows_avx2<32>;
      case 64: return rows_avx2<64>;
      default: break;
    }
  }
#endif
  return rows_generic;
}

// forward: M[i][j] = sqrt(w_i) U[i][j]; backward: M[j][i] = U[i][j] / sqrt(w_i).
void block_matrix(const PlaneBasis& b, int k, bool forward, float* m) {
  const int B = b.block, c0 = k * B;
  const float* u = b.basis + static_cast<size_t>(c0) * B;
  for (int i = 0; i < B; ++i) {
    const float sw = std::sqrt(b.weights[c0 + i]);
    for (int j = 0; j < B; ++j) {
      if (forward) m[static_cast<size_t>(i) * B + j] = sw * u[static_cast<size_t>(i) * B + j];
      else m[static_cast<size_t>(j) * B + i] = u[static_cast<size_t>(i) * B + j] / sw;
    }
  }
}

// Applies the per-block basis: forward y = U^T (sqrt(w) x), backward x = (U y) / sqrt(w),
// with the weights folded into the matrix. Tokens go through in tiles gathered
// token-major (a block spans whole heads or part of one, so each copy is a run of
// contiguous channels); in may equal out.
void apply(const PlaneBasis& b, size_t T, bool forward, const float* in, float* out) {
  constexpr size_t kTile = 64;
  const int D = b.head_dim, B = b.block, C = b.n_heads * D;
  const RowsFn rows = rows_kernel(B);
  std::vector<float> a(B > D ? kTile * B : 0), m(static_cast<size_t>(B) * B);
  for (int c0 = 0; c0 < C; c0 += B) {
    block_matrix(b, c0 / B, forward, m.data());
    if (B <= D) {
      // The block lies within one head: its rows are already there, D floats apart.
      const size_t at = static_cast<size_t>(c0 / D) * T * D + c0 % D;
      rows(in + at, D, m.data(), out + at, D, T, B);
      continue;
    }
    for (size_t t0 = 0; t0 < T; t0 += kTile) {
      const size_t n = std::min(kTile, T - t0);
      for (size_t t = 0; t < n; ++t)
        for (int i = 0; i < B; i += D) {
          const int c = c0 + i;
          std::memcpy(&a[t * B + i], in + (static_cast<size_t>(c / D) * T + t0 + t) * D, sizeof(float) * D);
        }
      rows(a.data(), B, m.data(), a.data(), B, n, B);
      for (size_t t = 0; t < n; ++t)
        for (int i = 0; i < B; i += D) {
          const int c = c0 + i;
          std::memcpy(out + (static_cast<size_t>(c / D) * T + t0 + t) * D, &a[t * B + i], sizeof(float) * D);
        }
    }
  }
}

}  // namespace

void to_basis(const PlaneBasis& b, size_t T, int32_t first, const float* x, float* y) {
  const size_t n = static_cast<size_t>(b.n_heads) * T * b.head_dim;
  if (n == 0) return;
  std::vector<float> tmp(x, x + n);
  rotate(b, T, first, -1, tmp.data());
  apply(b, T, true, tmp.data(), y);
}

void from_basis(const PlaneBasis& b, size_t T, int32_t first, const float* y, float* x) {
  const size_t n = static_cast<size_t>(b.n_heads) * T * b.head_dim;
  if (n == 0) return;
  apply(b, T, false, y, x);
  rotate(b, T, first, 1, x);
}

void backward_matrix(const PlaneBasis& b, int block_index, float* m) { block_matrix(b, block_index, false, m); }

void rotate_to_positions(const PlaneBasis& b, size_t T, int32_t first, float* x) { rotate(b, T, first, 1, x); }

void symmetric_eigen(int n, std::vector<double> a, std::vector<double>* vectors, std::vector<double>* values) {
  std::vector<double> v(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i) * n + i] = 1.0;
  auto A = [&](int i, int j) -> double& { return a[static_cast<size_t>(i) * n + j]; };
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, diag = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) (i == j ? diag : off) += A(i, j) * A(i, j);
    if (off <= 1e-24 * std::max(diag, 1e-300)) break;
    for (int p = 0; p < n - 1; ++p)
      for (int q = p + 1; q < n; ++q) {
        const double apq = A(p, q);
        if (std::fabs(apq) < 1e-300) continue;
        const double tau = (A(q, q) - A(p, p)) / (2 * apq);
        const double t = (tau >= 0 ? 1.0 : -1.0) / (std::fabs(tau) + std::sqrt(1 + tau * tau));
        const double c = 1 / std::sqrt(1 + t * t), s = t * c;
        for (int k = 0; k < n; ++k) {  // columns p, q
          const double akp = A(k, p), akq = A(k, q);
          A(k, p) = c * akp - s * akq;
          A(k, q) = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // rows p, q
          const double apk = A(p, k), aqk = A(q, k);
          A(p, k) = c * apk - s * aqk;
          A(q, k) = s * apk + c * aqk;
        }
        for (int k = 0; k < n; ++k) {
          const double vkp = v[static_cast<size_t>(k) * n + p], vkq = v[static_cast<size_t>(k) * n + q];
          v[static_cast<size_t>(k) * n + p] = c * vkp - s * vkq;
          v[static_cast<size_t>(k) * n + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return A(i, i) > A(j, j); });
  vectors->assign(static_cast<size_t>(n) * n, 0.0);
  values->resize(n);
  for (int j = 0; j < n; ++j) {
    const int src = order[j];
    (*values)[j] = A(src, src);
    int big = 0;
    for (int k = 1; k < n; ++k)
      if (std::fabs(v[static_cast<size_t>(k) * n + src]) > std::fabs(v[static_cast<size_t>(big) * n + src])) big = k;
    const double sign = v[static_cast<size_t>(big) * n + src] < 0 ? -1.0 : 1.0;
    for (int k = 0; k < n; ++k) (*vectors)[static_cast<size_t>(k) * n + j] = sign * v[static_cast<size_t>(k) * n + src];
  }
}

}  // namespace kvforge::codec

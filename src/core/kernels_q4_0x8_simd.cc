// Kernels over Q4_0 packed eight rows at a time (kvforge/core/packed_q4_0.h),
// compiled per SIMD target and dispatched at run time. On x86 AVX2 and up a
// block of eight rows is 4 loads, 8 nibble masks and 8 int8 multiply-adds per
// token (dpbusd on AVX-512 VNNI, maddubs + madd on AVX2), the activations'
// 4-byte groups broadcast to every lane, and one fp32 FMA of the eight rows'
// scales. Other targets run a scalar loop over the same layout: correct, and
// never chosen by the model (packed_q4_0_available() is false there).
#include <cstring>

#include "core/kernels_ref.h"
#include "kvforge/core/half.h"
#include "kvforge/core/packed_q4_0.h"
#include "kvforge/core/quantized_activations.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels_q4_0x8_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#include "core/kernels_x86_int8-inl.h"

// Tokens whose products share one unpacking of a block's nibbles.
constexpr size_t kTokenTile = 4;

bool HasPackedQ4_0Kernel() { return true; }

HWY_INLINE int32_t Load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Rows 8g..8g+7 of the packed matrix (`group`, nb blocks) against kTokens
// tokens from t0: y[t][r0 + i] for the eight rows i.
template <size_t kTokens>
HWY_INLINE void GroupTile(const uint8_t* group, size_t nb, const QuantizedActivations& x, size_t t0, float* y,
                          size_t rows, size_t r0) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const size_t xb_stride = x.row_bytes / sizeof(BlockQ8_0x);
  const auto* xb0 = reinterpret_cast<const BlockQ8_0x*>(x.storage.data()) + t0 * xb_stride;
  const float* xs0 = x.scales.data() + t0 * nb;
  const int32_t* xn0 = x.neg_sums.data() + t0 * nb;
  __m256 acc[kTokens];
  for (size_t i = 0; i < kTokens; ++i) acc[i] = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b, group += kQ4_0x8BlockBytes) {
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group)));
    __m256i lo[4], hi[4];
    for (size_t c = 0; c < 4; ++c) {
      const __m256i v = LoadI256(group + 16 + 32 * c);
      lo[c] = _mm256_and_si256(v, low4);
      hi[c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    }
    for (size_t i = 0; i < kTokens; ++i) {
      const int8_t* xq = xb0[i * xb_stride + b].qs;
      // sum (q - 8) x = sum q x - 8 sum x: the low sum starts at -8 sum(x).
      __m256i s0 = _mm256_set1_epi32(8 * xn0[i * nb + b]), s1 = _mm256_setzero_si256();
      for (size_t c = 0; c < 4; ++c) {
        s0 = DotU8I8(lo[c], _mm256_set1_epi32(Load4(xq + 4 * c)), s0);
        s1 = DotU8I8(hi[c], _mm256_set1_epi32(Load4(xq + 16 + 4 * c)), s1);
      }
      const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(xs0[i * nb + b]));
      acc[i] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc[i]);
    }
  }
  for (size_t i = 0; i < kTokens; ++i) _mm256_storeu_ps(y + (t0 + i) * rows + r0, acc[i]);
}

void GroupAllTokens(const uint8_t* group, size_t nb, const QuantizedActivations& x, float* y, size_t rows,
                    size_t r0) {
  size_t t = 0;
  for (; t + kTokenTile <= x.n_rows; t += kTokenTile) GroupTile<kTokenTile>(group, nb, x, t, y, rows, r0);
  for (; t < x.n_rows; ++t) GroupTile<1>(group, nb, x, t, y, rows, r0);
}

#else

bool HasPackedQ4_0Kernel() { return false; }

// Scalar over the packed layout, in ref::dot_row_q8's order of operations.
void GroupAllTokens(const uint8_t* group, size_t nb, const QuantizedActivations& x, float* y, size_t rows,
                    size_t r0) {
  for (size_t t = 0; t < x.n_rows; ++t) {
    const auto* xb = static_cast<const BlockQ8_0x*>(x.row(t).blocks);
    for (size_t r = 0; r < kQ4_0x8Rows; ++r) {
      float sum = 0.0f;
      const uint8_t* blk = group;
      for (size_t b = 0; b < nb; ++b, blk += kQ4_0x8BlockBytes) {
        int isum = 0;
        for (size_t j = 0; j < 16; ++j) {
          const uint8_t q = blk[16 + 32 * (j / 4) + 4 * r + j % 4];
          isum += ((q & 0xF) - 8) * xb[b].qs[j] + ((q >> 4) - 8) * xb[b].qs[j + 16];
        }
        sum += static_cast<float>(isum) * (ref::load_fp16(blk + 2 * r) * fp16_to_f32(xb[b].d));
      }
      y[t * rows + r0 + r] = sum;
    }
  }
}

#endif

// Row groups [g0, g1) against every token: a group's weights stay in L1 while
// the tokens' activations stream from L2.
void MatmulQ4_0x8Range(const uint8_t* packed, size_t rows, size_t cols, const QuantizedActivations* x, float* y,
                       size_t g0, size_t g1) {
  const size_t nb = cols / 32;
  for (size_t g = g0; g < g1; ++g) GroupAllTokens(packed + g * nb * kQ4_0x8BlockBytes, nb, *x, y, rows, g * 8);
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kvforge/core/status.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::core {
HWY_EXPORT(HasPackedQ4_0Kernel);
HWY_EXPORT(MatmulQ4_0x8Range);

bool packed_q4_0_available() { return HWY_DYNAMIC_DISPATCH(HasPackedQ4_0Kernel)(); }

bool can_pack_q4_0(TensorType type, size_t rows, size_t cols) {
  return type == TensorType::kQ4_0 && rows % kQ4_0x8Rows == 0 && cols % 32 == 0 && rows > 0;
}

void pack_q4_0x8(const void* w, size_t rows, size_t cols, uint8_t* out) {
  KVF_CHECK(can_pack_q4_0(TensorType::kQ4_0, rows, cols));
  const size_t nb = cols / 32;
  const auto* src = static_cast<const BlockQ4_0*>(w);
  for (size_t g = 0; g < rows / kQ4_0x8Rows; ++g) {
    for (size_t b = 0; b < nb; ++b, out += kQ4_0x8BlockBytes) {
      for (size_t r = 0; r < kQ4_0x8Rows; ++r) {
        const BlockQ4_0& blk = src[(g * kQ4_0x8Rows + r) * nb + b];
        std::memcpy(out + 2 * r, &blk.d, 2);
        for (size_t c = 0; c < 4; ++c) std::memcpy(out + 16 + 32 * c + 4 * r, blk.qs + 4 * c, 4);
      }
    }
  }
}

void matmul_q4_0x8(const uint8_t* packed, size_t rows, size_t cols, const float* x, size_t n_tokens, float* y,
                   ThreadPool* pool) {
  KVF_CHECK(can_pack_q4_0(TensorType::kQ4_0, rows, cols));
  if (n_tokens == 0) return;
  thread_local QuantizedActivations storage;  // reused: no allocation per call
  // A pointer, not the thread_local's name: the workers must read this thread's copy.
  const QuantizedActivations* q = &storage;
  quantize_activations(ActivationType::kQ8_0, x, cols, n_tokens, &storage, pool);
  const auto kernel = HWY_DYNAMIC_DISPATCH(MatmulQ4_0x8Range);
  const auto fn = [&](size_t g0, size_t g1) { kernel(packed, rows, cols, q, y, g0, g1); };
  const size_t groups = rows / kQ4_0x8Rows;
  // As matmul_q8: below ~64 KiB of weights a job's wake-up costs more than it saves.
  if (pool == nullptr || pool->size() == 1 || rows * cols / 2 < 64 * 1024) {
    fn(0, groups);
    return;
  }
  pool->parallel_for(groups, fn);
}

}  // namespace kvforge::core
#endif  // HWY_ONCE

// x86 (AVX2 and up) integer dot products of quantized weight rows with int8
// activations, included by kernels_q8dot_simd.cc inside its per-target
// namespace. Highway 1.0 has no u8 x i8 multiply-add, so these are intrinsics:
//   - maddubs (u8 x i8 -> pairs summed into i16) then madd (i16 pairs -> i32);
//   - on AVX3_DL (AVX-512 VNNI) one dpbusd does both, accumulating into i32.
// Weights that are unsigned codes with an offset (Q4_0's q - 8, Q6_K's q - 32)
// multiply as unsigned and subtract offset * sum(x) once per block, from the
// activations' precomputed code sums, instead of re-centering every code.
// Q8_0 codes are signed: |w| times x carrying w's sign, as ggml does.
//
// Per-target file: no include guard (foreach_target includes it once per target).

#include "core/kernels_x86_int8-inl.h"

// A Q8_0 or Q4_0 row against one activation row. One row at a time: streaming
// four rows side by side was measured 2.5x slower from memory (decode), the
// hardware prefetchers losing the interleaved streams.
template <size_t kBlockBytes, class BlockSum>
HWY_INLINE float DotQ8_0Row(const uint8_t* w, const QuantizedRow& x, size_t nb, BlockSum block_sum) {
  const auto* xb = static_cast<const BlockQ8_0x*>(x.blocks);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b, w += kBlockBytes) {
    const __m256i isum = block_sum(w, LoadI256(xb[b].qs), _mm256_set1_epi32(x.neg_sums[b]));
    const __m256 d = _mm256_set1_ps(HalfAt(w) * x.scales[b]);
    // Alternate accumulators: consecutive blocks' FMAs do not wait on each other.
    if (b & 1) {
      acc1 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc1);
    } else {
      acc0 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc0);
    }
  }
  return HsumPs(_mm256_add_ps(acc0, acc1));
}

// Block b of a row into each token's accumulator: the weights unpacked once.
template <size_t kTokens, size_t kBlockBytes, class BlockSum>
HWY_INLINE void DotQ8_0BlockTokens(const uint8_t* w, const QuantizedRow* x, size_t b, BlockSum block_sum,
                                   __m256* acc) {
  const uint8_t* blk = w + b * kBlockBytes;
  const auto wq = block_sum.weights(blk);
  const float wd = HalfAt(blk);
  for (size_t t = 0; t < kTokens; ++t) {
    const auto* xb = static_cast<const BlockQ8_0x*>(x[t].blocks);
    const __m256i isum = block_sum.sum(wq, LoadI256(xb[b].qs), _mm256_set1_epi32(x[t].neg_sums[b]));
    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(wd * x[t].scales[b]), _mm256_cvtepi32_ps(isum), acc[t]);
  }
}

// The same row against kTokens activation rows (a decode batch): each weight
// block is loaded, unpacked and its scale converted once for all of them, where
// DotQ8_0Row per token redid that work and made a 4-token product cost nearly
// four single ones. Each token's sums run in DotQ8_0Row's order, so its result
// is the one it gets alone. y[t * y_stride] for token t.
template <size_t kTokens, size_t kBlockBytes, class BlockSum>
HWY_INLINE void DotQ8_0RowTokens(const uint8_t* w, const QuantizedRow* x, size_t nb, BlockSum block_sum, float* y,
                                 size_t y_stride) {
  // Even blocks into acc0, odd into acc1, as DotQ8_0Row; two named arrays with
  // fixed indices stay in registers where acc[t][b & 1] went through the stack.
  __m256 acc0[kTokens], acc1[kTokens];
  for (size_t t = 0; t < kTokens; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
  size_t b = 0;
  for (; b + 1 < nb; b += 2) {
    DotQ8_0BlockTokens<kTokens, kBlockBytes>(w, x, b, block_sum, acc0);
    DotQ8_0BlockTokens<kTokens, kBlockBytes>(w, x, b + 1, block_sum, acc1);
  }
  if (b < nb) DotQ8_0BlockTokens<kTokens, kBlockBytes>(w, x, b, block_sum, acc0);
  for (size_t t = 0; t < kTokens; ++t) y[t * y_stride] = HsumPs(_mm256_add_ps(acc0[t], acc1[t]));
}

// Q8_0 codes are signed: |w| times x carrying w's sign. weights() is the
// block's part that does not depend on x (DotQ8_0RowTokens shares it).
struct Q8_0BlockSum {
  struct Weights {
    __m256i q, abs;
  };
  HWY_INLINE Weights weights(const uint8_t* blk) const {
    const __m256i wq = LoadI256(blk + 2);
    return {wq, _mm256_sign_epi8(wq, wq)};
  }
  HWY_INLINE __m256i sum(const Weights& w, __m256i xq, __m256i) const {
    return DotU8I8(w.abs, _mm256_sign_epi8(xq, w.q), _mm256_setzero_si256());
  }
  HWY_INLINE __m256i operator()(const uint8_t* blk, __m256i xq, __m256i neg_sum) const {
    return sum(weights(blk), xq, neg_sum);
  }
};
// sum (q - 8) x = sum q x - 8 sum x: each of the 8 lanes starts at -sum(x).
struct Q4_0BlockSum {
  HWY_INLINE __m256i weights(const uint8_t* blk) const { return Nibbles32(blk + 2); }
  HWY_INLINE __m256i sum(__m256i nibbles, __m256i xq, __m256i neg_sum) const { return DotU8I8(nibbles, xq, neg_sum); }
  HWY_INLINE __m256i operator()(const uint8_t* blk, __m256i xq, __m256i neg_sum) const {
    return sum(weights(blk), xq, neg_sum);
  }
};

float DotQ8_0Q8(const uint8_t* w, const QuantizedRow& x, size_t nb) {
  return DotQ8_0Row<sizeof(BlockQ8_0)>(w, x, nb, Q8_0BlockSum());
}
float DotQ4_0Q8(const uint8_t* w, const QuantizedRow& x, size_t nb) {
  return DotQ8_0Row<sizeof(BlockQ4_0)>(w, x, nb, Q4_0BlockSum());
}

template <size_t kTokens>
HWY_INLINE void DotQ8_0TokensT(TensorType type, const uint8_t* w, const QuantizedRow* x, size_t nb, float* y,
                               size_t y_stride) {
  if (type == TensorType::kQ8_0) {
    DotQ8_0RowTokens<kTokens, sizeof(BlockQ8_0)>(w, x, nb, Q8_0BlockSum(), y, y_stride);
  } else {
    DotQ8_0RowTokens<kTokens, sizeof(BlockQ4_0)>(w, x, nb, Q4_0BlockSum(), y, y_stride);
  }
}

// A Q8_0 or Q4_0 row against tokens [0, x.n_rows), up to four at a time;
// returns how many it computed (0 for other types, which go a token at a time).
size_t DotRowTokensQ8(TensorType type, const uint8_t* w, const QuantizedActivations& x, size_t cols, float* y,
                      size_t y_stride) {
  if (type != TensorType::kQ8_0 && type != TensorType::kQ4_0) return 0;
  constexpr size_t kGroup = 4;
  QuantizedRow rows[kGroup];
  size_t t = 0;
  for (; t + 2 <= x.n_rows; t += kGroup) {
    const size_t n = std::min(kGroup, x.n_rows - t);
    for (size_t i = 0; i < n; ++i) rows[i] = x.row(t + i);
    float* yt = y + t * y_stride;
    if (n == 4) DotQ8_0TokensT<4>(type, w, rows, cols / 32, yt, y_stride);
    if (n == 3) DotQ8_0TokensT<3>(type, w, rows, cols / 32, yt, y_stride);
    if (n == 2) DotQ8_0TokensT<2>(type, w, rows, cols / 32, yt, y_stride);
    if (n < kGroup) return t + n;
  }
  return t;
}

// The 8 six-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K
// super-block, unpacked from its 12 scale bytes four at a time (the layout
// q4_k_scale_min reads one at a time).
HWY_INLINE void Q4KScalesMins(const uint8_t* s, uint8_t out[16]) {
  uint32_t u0, u1, u2;
  std::memcpy(&u0, s, 4);
  std::memcpy(&u1, s + 4, 4);
  std::memcpy(&u2, s + 8, 4);
  const uint32_t low6 = 0x3F3F3F3Fu, low4 = 0x0F0F0F0Fu, low2 = 0x03030303u;
  const uint32_t words[4] = {u0 & low6, (u2 & low4) | (((u0 >> 6) & low2) << 4), u1 & low6,
                             ((u2 >> 4) & low4) | (((u1 >> 6) & low2) << 4)};
  std::memcpy(out, words, 16);
}

// Nibbles times x (maddubs pairs <= 2*15*127) then times the sub-block's scale.
float DotQ4_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ4_K)) {
    alignas(16) uint8_t sm[16];
    Q4KScalesMins(w + 4, sm);
    const uint8_t* q = w + 16;
    const int8_t* q8 = x[b].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j, q += 32, q8 += 64) {
      const __m256i v = LoadI256(q);
      const __m256i p_lo = _mm256_maddubs_epi16(_mm256_and_si256(v, low4), LoadI256(q8));
      const __m256i p_hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), LoadI256(q8 + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(sm[2 * j])));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(sm[2 * j + 1])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(HalfAt(w) * x[b].d), _mm256_cvtepi32_ps(sumi), acc);
    // Minimums: m_j times the sum of sub-block j's codes (two 16-code bsums).
    const __m128i bs_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums));
    const __m128i bs_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums + 8));
    const __m128i sub_sums = _mm_hadd_epi16(bs_lo, bs_hi);  // |.| <= 32 * 127
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm + 8)));
    mins += HalfAt(w + 2) * x[b].d * static_cast<float>(HsumEpi32(_mm_madd_epi16(sub_sums, m16)));
  }
  return HsumPs(acc) - mins;
}

// Codes q in [0, 64) times x (maddubs pairs <= 2*63*127), times the 16-element
// group's scale; the -32 offset comes off once per super-block as
// 32 * sum_g scale_g * bsum_g.
float DotQ6_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(0x03);
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ6_K)) {
    const auto* sc = reinterpret_cast<const int8_t*>(w + 192);
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w + 64 * half;
      const __m256i hi = LoadI256(w + 128 + 32 * half);
      const __m256i l0 = LoadI256(ql), l1 = LoadI256(ql + 32);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(hi, low2), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hi, 2), low2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hi, 4), low2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hi, 6), low2), 4))};
      const int8_t* q8 = x[b].qs + 128 * half;
      const int8_t* s = sc + 8 * half;
      for (int g = 0; g < 4; ++g) {
        const __m256i p = _mm256_maddubs_epi16(q[g], LoadI256(q8 + 32 * g));
        const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(s[2 * g + 1]), _mm_set1_epi16(s[2 * g]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale));
      }
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    const __m256i offs = _mm256_madd_epi16(sc16, LoadI256(x[b].bsums));
    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(offs, 5));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(HalfAt(w + 208) * x[b].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return HsumPs(acc);
}

#include "core/kernels_q8dot_x86_more-inl.h"

#undef KVF_Q8DOT_VNNI

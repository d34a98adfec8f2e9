// x86 (AVX2 and up) integer dots of the less common block types: Q4_1, Q5_0,
// Q5_1, IQ4_NL against q8_0 / q8_1 codes and Q2_K, Q3_K, Q5_K against q8_K.
// Included by kernels_q8dot_x86-inl.h (its helpers and its AVX3_DL pragma
// apply). Codes are built in registers as unsigned bytes; an offset (Q5_0's
// 16, Q3_K's 4) comes off once per block from the activations' code sums, as
// in Q4_0 and Q6_K. The scalar definitions are kernels_ref_q8dot_unpacked.cc.
//
// Per-target file: no include guard (foreach_target includes it once per target).

// 32 bytes, byte k = 0x10 where bit k of the little-endian uint32 at p is set:
// the fifth bit of element k of a Q5_0 / Q5_1 block.
HWY_INLINE __m256i FifthBits32(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  // Byte k of the result takes byte k / 8 of `bits` (each 128-bit half holds all four).
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                                             _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                               0x0101010101010101, 0x0000000000000000));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

// sum (q - 16) x: 8 lanes each starting at -2 sum(x).
struct Q5_0BlockSum {
  HWY_INLINE __m256i operator()(const uint8_t* blk, __m256i xq, __m256i neg_sum) const {
    const __m256i q = _mm256_or_si256(Nibbles32(blk + 6), FifthBits32(blk + 2));
    return DotU8I8(q, xq, _mm256_add_epi32(neg_sum, neg_sum));
  }
};
// IQ4_NL: nibbles index the signed levels; then signed times signed as Q8_0.
struct IQ4_NLBlockSum {
  HWY_INLINE __m256i operator()(const uint8_t* blk, __m256i xq, __m256i) const {
    const __m256i levels =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    const __m256i wq = _mm256_shuffle_epi8(levels, Nibbles32(blk + 2));
    return DotU8I8(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq), _mm256_setzero_si256());
  }
};

float DotQ5_0Q8(const uint8_t* w, const QuantizedRow& x, size_t nb) {
  return DotQ8_0Row<sizeof(BlockQ5_0)>(w, x, nb, Q5_0BlockSum());
}
float DotIQ4_NLQ8(const uint8_t* w, const QuantizedRow& x, size_t nb) {
  return DotQ8_0Row<sizeof(BlockIQ4_NL)>(w, x, nb, IQ4_NLBlockSum());
}

// Q4_1 / Q5_1 (x = d q + m): d dx sum(q xq) in vectors, m dx sum(xq) per block.
template <size_t kBlockBytes, bool kFifthBit>
HWY_INLINE float DotQ8_1Row(const uint8_t* w, const QuantizedRow& x, size_t nb) {
  const auto* xb = static_cast<const BlockQ8_0x*>(x.blocks);
  __m256 acc = _mm256_setzero_ps();
  float offsets0 = 0.0f, offsets1 = 0.0f;
  for (size_t b = 0; b < nb; ++b, w += kBlockBytes) {
    __m256i q = Nibbles32(w + (kFifthBit ? 8 : 4));
    if (kFifthBit) q = _mm256_or_si256(q, FifthBits32(w + 4));
    const __m256i isum = DotU8I8(q, LoadI256(xb[b].qs), _mm256_setzero_si256());
    acc = _mm256_fmadd_ps(_mm256_set1_ps(HalfAt(w) * x.scales[b]), _mm256_cvtepi32_ps(isum), acc);
    const float offset = HalfAt(w + 2) * x.scales[b] * static_cast<float>(-x.neg_sums[b]);
    if (b & 1) {
      offsets1 += offset;
    } else {
      offsets0 += offset;
    }
  }
  return HsumPs(acc) + (offsets0 + offsets1);
}
float DotQ4_1Q8(const uint8_t* w, const QuantizedRow& x, size_t nb) {
  return DotQ8_1Row<sizeof(BlockQ4_1), false>(w, x, nb);
}
float DotQ5_1Q8(const uint8_t* w, const QuantizedRow& x, size_t nb) {
  return DotQ8_1Row<sizeof(BlockQ5_1), true>(w, x, nb);
}

// Bits [shift, shift + width) of every byte.
HWY_INLINE __m256i ByteField(__m256i v, int shift, int mask) {
  return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(shift)), _mm256_set1_epi8(static_cast<char>(mask)));
}

// 32 codes (elements 0..15 under scale lo, 16..31 under scale hi) times x,
// times the scales, added to sumi.
HWY_INLINE __m256i AddScaledPairs(__m256i sumi, __m256i codes, const int8_t* x, int lo, int hi) {
  const __m256i p = _mm256_maddubs_epi16(codes, LoadI256(x));
  const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(hi)), _mm_set1_epi16(static_cast<int16_t>(lo)));
  return _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale));
}

// sum_g v[g] * bsums[g] over the 16 groups (v as 16 int16).
HWY_INLINE int32_t GroupDot(__m256i v16, const int16_t* bsums) {
  const __m256i p = _mm256_madd_epi16(v16, LoadI256(bsums));
  return HsumEpi32(_mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1)));
}

// Q2_K: 2-bit codes times 4-bit scales; mins (4 bits) meet the bsums.
float DotQ2_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ2_K)) {
    const uint8_t* sc = w;
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i q = LoadI256(w + 16 + 32 * half);
      for (int s = 0; s < 4; ++s) {
        const int g = 8 * half + 2 * s;
        sumi = AddScaledPairs(sumi, ByteField(q, 2 * s, 3), x[b].qs + 128 * half + 32 * s, sc[g] & 0xF, sc[g + 1] & 0xF);
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(HalfAt(w + 80) * x[b].d), _mm256_cvtepi32_ps(sumi), acc);
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sc));
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F)));
    mins += HalfAt(w + 82) * x[b].d * static_cast<float>(GroupDot(m16, x[b].bsums));
  }
  return HsumPs(acc) - mins;
}

// Q3_K: codes q + 4 * hbit in [0, 8) stand for q + 4 * hbit - 4; the -4 comes
// off as 4 * sum_g scale_g * bsum_g.
float DotQ3_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ3_K)) {
    alignas(32) int16_t scales[16];
    for (int g = 0; g < 16; ++g) scales[g] = static_cast<int16_t>(ref::q3_k_scale(g, w + 96));
    const __m256i hmask = LoadI256(w);
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i q = LoadI256(w + 32 + 32 * half);
      for (int s = 0; s < 4; ++s) {
        const int k = 4 * half + s, g = 8 * half + 2 * s;
        const __m256i codes = _mm256_or_si256(ByteField(q, 2 * s, 3), _mm256_slli_epi16(ByteField(hmask, k, 1), 2));
        sumi = AddScaledPairs(sumi, codes, x[b].qs + 32 * k, scales[g], scales[g + 1]);
      }
    }
    const __m256i offs = _mm256_set1_epi32(4 * GroupDot(LoadI256(scales), x[b].bsums));
    sumi = _mm256_sub_epi32(sumi, _mm256_blend_epi32(_mm256_setzero_si256(), offs, 1));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(HalfAt(w + 108) * x[b].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return HsumPs(acc);
}

// Q5_K: Q4_K's nibbles with a fifth bit from qh, under the same scales and mins.
float DotQ5_KQ8(const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (size_t b = 0; b < nb; ++b, w += sizeof(BlockQ5_K)) {
    alignas(16) uint8_t sm[16];
    Q4KScalesMins(w + 4, sm);
    const __m256i qh = LoadI256(w + 16);
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i v = LoadI256(w + 48 + 32 * j);
      const __m256i lo = _mm256_or_si256(ByteField(v, 0, 0x0F), _mm256_slli_epi16(ByteField(qh, 2 * j, 1), 4));
      const __m256i hi = _mm256_or_si256(ByteField(v, 4, 0x0F), _mm256_slli_epi16(ByteField(qh, 2 * j + 1, 1), 4));
      sumi = AddScaledPairs(sumi, lo, x[b].qs + 64 * j, sm[2 * j], sm[2 * j]);
      sumi = AddScaledPairs(sumi, hi, x[b].qs + 64 * j + 32, sm[2 * j + 1], sm[2 * j + 1]);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(HalfAt(w) * x[b].d), _mm256_cvtepi32_ps(sumi), acc);
    const __m128i bs_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums));
    const __m128i bs_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums + 8));
    const __m128i sub_sums = _mm_hadd_epi16(bs_lo, bs_hi);
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm + 8)));
    mins += HalfAt(w + 2) * x[b].d * static_cast<float>(HsumEpi32(_mm_madd_epi16(sub_sums, m16)));
  }
  return HsumPs(acc) - mins;
}

// x86 (AVX2 and up) building blocks of the integer dot-product kernels
// (kernels_q8dot_x86-inl.h, kernels_q4_0x8_simd.cc), included inside a
// per-target namespace. Highway 1.0 has no u8 x i8 multiply-add, so these are
// intrinsics: maddubs + madd, or AVX-512 VNNI's dpbusd on AVX3_DL.
//
// Per-target file: no include guard (foreach_target includes it once per
// target, and each including file once).

#undef KVF_Q8DOT_VNNI
#if HWY_TARGET == HWY_AVX3_DL && defined(__GNUC__) && !defined(__clang__)
// Highway 1.0.3's AVX3_DL attribute string names avxvnni (VEX encoding, which
// Ice Lake lacks) but not avx512vnni (EVEX, which the target requires at run
// time): swap them, so the 256-bit dpbusd below is encoded as EVEX. Functions
// compiled without avxvnni cannot inline ones compiled with it, so from here
// on this file calls only intrinsics and its own helpers (below).
#pragma GCC target("avx512vnni,no-avxvnni")
#define KVF_Q8DOT_VNNI 1
#else
#define KVF_Q8DOT_VNNI 0
#endif

// A block's fp16 scale (F16C; every AVX2 CPU has it).
HWY_INLINE float HalfAt(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

HWY_INLINE float HsumPs(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

HWY_INLINE int32_t HsumEpi32(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
  return _mm_cvtsi128_si32(v);
}

HWY_INLINE __m256i LoadI256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// init + sum of u[j] * s[j] over each group of 4 bytes (u unsigned, s signed;
// pairs of u * s must fit int16 on the maddubs path: every caller's do).
HWY_INLINE __m256i DotU8I8(__m256i u, __m256i s, __m256i init) {
#if KVF_Q8DOT_VNNI
  return _mm256_dpbusd_epi32(init, u, s);
#else
  return _mm256_add_epi32(init, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// 32 nibbles of a Q4 block: low nibbles (elements 0..15), then high ones.
HWY_INLINE __m256i Nibbles32(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0F));
}


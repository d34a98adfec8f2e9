// The GGML block types beyond Q8_0/Q4_0/Q4_K: known blocks built from the
// format definitions (ggml-common.h) decode to hand-computed values, and the
// SIMD kernels match the scalar reference on every target this CPU runs.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/kernels_ref.h"
#include "core/quant_blocks.h"
#include "kvforge/core/half.h"
#include "kvforge/core/kernels.h"

namespace kvforge::core {
namespace {

const TensorType kNewTypes[] = {TensorType::kQ4_1, TensorType::kQ5_0, TensorType::kQ5_1, TensorType::kIQ4_NL,
                                TensorType::kQ2_K, TensorType::kQ3_K, TensorType::kQ5_K, TensorType::kQ6_K};

void put_half(uint8_t* p, float v) {
  const uint16_t h = f32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// ---- Known blocks: quants placed by the format definition, element by element.

// A 32-element block's nibble for element e: qs[e % 16], low half first.
void put_nibble(uint8_t* qs, int e, int q) { qs[e % 16] |= static_cast<uint8_t>((q & 0xF) << (e < 16 ? 0 : 4)); }

// The 2-bit layout of Q2_K/Q3_K: element e sits in byte 32 * (e / 128) + e % 32
// at bits 2 * ((e % 128) / 32).
void put_2bit(uint8_t* qs, int e, int q) {
  qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((q & 3) << (2 * ((e % 128) / 32)));
}

// Packs 8 (scale, min) 6-bit pairs as GGML's Q4_K/Q5_K quantizers do.
void put_scale_min_k4(uint8_t* scales, const int* sc, const int* m) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = static_cast<uint8_t>(sc[j]);
      scales[j + 4] = static_cast<uint8_t>(m[j]);
    } else {
      scales[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((m[j] >> 4) << 6);
    }
  }
}

struct Known {
  std::vector<uint8_t> block;  // one block
  std::vector<float> want;     // its values, computed from the definition
};

Known known_q4_1() {  // d = 0.5, m = -1, q_e = e % 16 (reversed in the high half)
  Known k{std::vector<uint8_t>(20), {}};
  put_half(&k.block[0], 0.5f);
  put_half(&k.block[2], -1.0f);
  for (int e = 0; e < 32; ++e) {
    const int q = e < 16 ? e : 31 - e;
    put_nibble(&k.block[4], e, q);
    k.want.push_back(0.5f * q - 1.0f);
  }
  return k;
}

Known known_q5_0() {  // d = 0.25, q_e = e: values (e - 16) / 4
  Known k{std::vector<uint8_t>(22), {}};
  put_half(&k.block[0], 0.25f);
  for (int e = 0; e < 32; ++e) {
    put_nibble(&k.block[6], e, e);
    if (e & 16) k.block[2 + e / 8] |= static_cast<uint8_t>(1 << (e % 8));
    k.want.push_back(0.25f * (e - 16));
  }
  return k;
}

Known known_q5_1() {  // d = 0.5, m = 2, q_e = (7 e) % 32
  Known k{std::vector<uint8_t>(24), {}};
  put_half(&k.block[0], 0.5f);
  put_half(&k.block[2], 2.0f);
  for (int e = 0; e < 32; ++e) {
    const int q = (7 * e) % 32;
    put_nibble(&k.block[8], e, q);
    if (q & 16) k.block[4 + e / 8] |= static_cast<uint8_t>(1 << (e % 8));
    k.want.push_back(0.5f * q + 2.0f);
  }
  return k;
}

Known known_iq4_nl() {  // d = 2, index (e + 3) % 16 into the fixed table
  static const float kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  Known k{std::vector<uint8_t>(18), {}};
  put_half(&k.block[0], 2.0f);
  for (int e = 0; e < 32; ++e) {
    put_nibble(&k.block[2], e, (e + 3) % 16);
    k.want.push_back(2.0f * kLevels[(e + 3) % 16]);
  }
  return k;
}

Known known_q2_k() {  // d = 1, dmin = 0.5; sub-block j: scale j, min 15 - j; q_e = (e / 7) % 4
  Known k{std::vector<uint8_t>(84), {}};
  for (int j = 0; j < 16; ++j) k.block[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  put_half(&k.block[80], 1.0f);
  put_half(&k.block[82], 0.5f);
  for (int e = 0; e < 256; ++e) {
    const int q = (e / 7) % 4, j = e / 16;
    put_2bit(&k.block[16], e, q);
    k.want.push_back(1.0f * j * q - 0.5f * (15 - j));
  }
  return k;
}

Known known_q3_k() {  // d = 0.5; sub-block j: scale 3 j - 24 (6-bit, stored + 32); q_e = e % 8 - 4
  Known k{std::vector<uint8_t>(110), {}};
  uint8_t* scales = &k.block[96];
  for (int j = 0; j < 16; ++j) {
    const int stored = 3 * j - 24 + 32;
    scales[j % 8] |= static_cast<uint8_t>((stored & 0xF) << (j < 8 ? 0 : 4));
    scales[8 + j % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (j / 4)));
  }
  put_half(&k.block[108], 0.5f);
  for (int e = 0; e < 256; ++e) {
    const int q = e % 8 - 4, u = q + 4;  // stored as q + 4: low 2 bits in qs, bit 2 in hmask
    put_2bit(&k.block[32], e, u & 3);
    if (u & 4) k.block[e % 32] |= static_cast<uint8_t>(1 << (4 * (e / 128) + (e % 128) / 32));
    k.want.push_back(0.5f * (3 * (e / 16) - 24) * q);
  }
  return k;
}

Known known_q5_k() {  // d = 0.25, dmin = 1; sub-block j: scale 8 j + 3, min 63 - 7 j; q_e = (7 e) % 32
  Known k{std::vector<uint8_t>(176), {}};
  int sc[8], m[8];
  for (int j = 0; j < 8; ++j) sc[j] = 8 * j + 3, m[j] = 63 - 7 * j;
  put_half(&k.block[0], 0.25f);
  put_half(&k.block[2], 1.0f);
  put_scale_min_k4(&k.block[4], sc, m);
  for (int e = 0; e < 256; ++e) {
    const int q = (7 * e) % 32, c = e / 64, r = e % 64;
    // Chunk c of 64: low nibbles of qs[32c..] then high; bit 4 in qh[r % 32] bit 2c (+1 for high).
    k.block[48 + 32 * c + r % 32] |= static_cast<uint8_t>((q & 0xF) << (r < 32 ? 0 : 4));
    if (q & 16) k.block[16 + r % 32] |= static_cast<uint8_t>(1 << (2 * c + (r < 32 ? 0 : 1)));
    k.want.push_back(0.25f * sc[e / 32] * q - 1.0f * m[e / 32]);
  }
  return k;
}

Known known_q6_k() {  // d = 0.125; sub-block j: scale 3 (j - 8); q_e = (5 e) % 64 - 32
  Known k{std::vector<uint8_t>(210), {}};
  for (int j = 0; j < 16; ++j) k.block[192 + j] = static_cast<uint8_t>(static_cast<int8_t>(3 * (j - 8)));
  put_half(&k.block[208], 0.125f);
  for (int e = 0; e < 256; ++e) {
    const int q = (5 * e) % 64 - 32, u = q + 32, h = e / 128, quarter = (e % 128) / 32, l = e % 32;
    // Quarters 0/1: low nibbles of ql[l] / ql[l + 32]; quarters 2/3: their high nibbles.
    k.block[64 * h + l + 32 * (quarter % 2)] |= static_cast<uint8_t>((u & 0xF) << (quarter < 2 ? 0 : 4));
    k.block[128 + 32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * quarter));
    k.want.push_back(0.125f * 3 * (e / 16 - 8) * q);
  }
  return k;
}

Known known_block(TensorType type) {
  switch (type) {
    case TensorType::kQ4_1: return known_q4_1();
    case TensorType::kQ5_0: return known_q5_0();
    case TensorType::kQ5_1: return known_q5_1();
    case TensorType::kIQ4_NL: return known_iq4_nl();
    case TensorType::kQ2_K: return known_q2_k();
    case TensorType::kQ3_K: return known_q3_k();
    case TensorType::kQ5_K: return known_q5_k();
    case TensorType::kQ6_K: return known_q6_k();
    default: return {};
  }
}

TEST(QuantTypes, KnownBlocksDecodeToTheirDefinition) {
  for (TensorType type : kNewTypes) {
    SCOPED_TRACE(std::string(tensor_type_name(type)));
    const Known k = known_block(type);
    ASSERT_EQ(k.block.size(), static_cast<size_t>(tensor_type_block_bytes(type)));
    const size_t n = k.want.size();
    ASSERT_EQ(n, static_cast<size_t>(tensor_type_block_elems(type)));
    // Two copies: the second checks the block stride.
    std::vector<uint8_t> row(k.block);
    row.insert(row.end(), k.block.begin(), k.block.end());
    std::vector<float> slow(2 * n), fast(2 * n);
    ref::dequantize_row(type, row.data(), slow.data(), 2 * n);
    dequantize_row(type, row.data(), fast.data(), 2 * n);
    for (size_t i = 0; i < 2 * n; ++i) {
      ASSERT_EQ(slow[i], k.want[i % n]) << "ref, element " << i;
      ASSERT_EQ(fast[i], k.want[i % n]) << "simd, element " << i;
    }
    std::vector<float> ones(2 * n, 1.0f);
    double want_sum = 0;
    for (float v : k.want) want_sum += 2.0 * v;  // exact: small dyadic values
    EXPECT_EQ(ref::dot_row(type, row.data(), ones.data(), 2 * n), static_cast<float>(want_sum));
    EXPECT_EQ(dot_row(type, row.data(), ones.data(), 2 * n), static_cast<float>(want_sum));
  }
}

TEST(QuantTypes, SpotValuesByHand) {
  // A few values worked out on paper from the definitions above.
  std::vector<float> out(256);
  dequantize_row(TensorType::kQ4_1, known_q4_1().block.data(), out.data(), 32);
  EXPECT_EQ(out[0], -1.0f);   // q 0
  EXPECT_EQ(out[5], 1.5f);    // 0.5 * 5 - 1
  EXPECT_EQ(out[31], -1.0f);  // high nibble of qs[15] = 31 - 31 = 0
  dequantize_row(TensorType::kQ5_0, known_q5_0().block.data(), out.data(), 32);
  EXPECT_EQ(out[0], -4.0f);
  EXPECT_EQ(out[31], 3.75f);  // (31 - 16) / 4: bit 4 from qh bit 31
  dequantize_row(TensorType::kIQ4_NL, known_iq4_nl().block.data(), out.data(), 32);
  EXPECT_EQ(out[13], -254.0f);  // index 0: 2 * -127
  dequantize_row(TensorType::kQ3_K, known_q3_k().block.data(), out.data(), 256);
  EXPECT_EQ(out[0], 48.0f);     // 0.5 * (-24) * (-4)
  EXPECT_EQ(out[255], 31.5f);   // 0.5 * 21 * 3 (sub-block 15: 3*15-24 = 21; q = 7 - 4)
  dequantize_row(TensorType::kQ6_K, known_q6_k().block.data(), out.data(), 256);
  EXPECT_EQ(out[0], 96.0f);     // 0.125 * -24 * -32
  EXPECT_EQ(out[255], 70.875f);  // q = 1275 % 64 - 32 = 27; 0.125 * 21 * 27
}

// ---- SIMD against the reference ------------------------------------------

void expect_simd_matches_ref(TensorType type, size_t n_blocks, uint32_t seed, size_t misalign) {
  const size_t n = n_blocks * static_cast<size_t>(tensor_type_block_elems(type));
  const auto blocks = qtest::random_blocks(type, n_blocks, seed);
  // Rows inside a file are only 2-byte aligned.
  std::vector<uint8_t> buf(blocks.size() + misalign);
  std::memcpy(buf.data() + misalign, blocks.data(), blocks.size());
  const uint8_t* row = buf.data() + misalign;
  std::vector<float> slow(n), fast(n, -7.0f);
  ref::dequantize_row(type, row, slow.data(), n);
  dequantize_row(type, row, fast.data(), n);
  ASSERT_EQ(std::memcmp(slow.data(), fast.data(), n * sizeof(float)), 0)
      << tensor_type_name(type) << " blocks=" << n_blocks << ": SIMD dequantize is not bit-identical";
  std::mt19937 rng(seed + 1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = u(rng);
  EXPECT_NEAR(dot_row(type, row, x.data(), n), ref::dot_row(type, row, x.data(), n),
              qtest::dot_tolerance(type, row, x.data(), n))
      << tensor_type_name(type) << " blocks=" << n_blocks;
}

TEST(QuantTypes, SimdMatchesRefOnEveryCompiledTarget) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd_target_name());
    for (TensorType type : kNewTypes) {
      for (size_t n_blocks : {1, 2, 3, 8, 17}) {
        for (size_t misalign : {0, 2}) {
          expect_simd_matches_ref(type, n_blocks, static_cast<uint32_t>(n_blocks * 100 + misalign), misalign);
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the real CPU
}

TEST(QuantTypes, ExtremeScalesStayBitIdentical) {
  // Large, tiny (subnormal) and negative fp16 scales, including the min fields.
  const float scales[] = {65504.0f, -65504.0f, 6e-8f, -3.0e-5f, 0.0f, 1.0f};
  for (TensorType type : kNewTypes) {
    const qtest::HalfFields f = qtest::half_fields(type);
    auto blocks = qtest::random_blocks(type, 6, 42);
    const size_t bytes = static_cast<size_t>(tensor_type_block_bytes(type));
    for (size_t b = 0; b < 6; ++b) {
      put_half(&blocks[b * bytes + f.scale], scales[b]);
      if (f.min >= 0) put_half(&blocks[b * bytes + f.min], scales[5 - b]);
    }
    const size_t n = 6 * static_cast<size_t>(tensor_type_block_elems(type));
    std::vector<float> slow(n), fast(n);
    ref::dequantize_row(type, blocks.data(), slow.data(), n);
    dequantize_row(type, blocks.data(), fast.data(), n);
    EXPECT_EQ(std::memcmp(slow.data(), fast.data(), n * sizeof(float)), 0) << tensor_type_name(type);
  }
}

}  // namespace
}  // namespace kvforge::core

// Integer dots of the block types without a dedicated kernel (Q4_1, Q5_0,
// Q5_1, IQ4_NL, Q2_K, Q3_K, Q5_K), included by kernels_q8dot_simd.cc inside its
// per-target namespace. Each block is unpacked to int8 codes
// (kernels_int_blocks.h), then multiplied lane-wise in int16 pairs summed to
// int32, on every target. These types are rare in the files people run, so one
// portable kernel serves all of them rather than one intrinsic path each.
//
// Per-target file: no include guard (foreach_target includes it once per target).

// d * dx * sum(q * xq) + m * dx * sum(xq), one 32-element block at a time.
float DotUnpacked32Q8(TensorType type, const uint8_t* w, const QuantizedRow& xr, size_t nb) {
  const auto* x = static_cast<const BlockQ8_0x*>(xr.blocks);
  const size_t bytes = static_cast<size_t>(tensor_type_block_bytes(type));
  const D32 d32;
  const DF df;
  const size_t N = hn::Lanes(D16());
  auto acc = hn::Zero(df);
  float offsets = 0.0f;
  IntBlock32 b;
  for (size_t i = 0; i < nb; ++i, w += bytes) {
    unpack_block32(type, w, &b);
    V32 s0 = hn::Zero(d32), s1 = hn::Zero(d32);
    for (size_t j = 0; j < 32; j += N) MulAcc(LoadI8(b.q + j), LoadI8(x[i].qs + j), s0, s1);
    acc = hn::MulAdd(hn::Set(df, b.d * xr.scales[i]), hn::ConvertTo(df, hn::Add(s0, s1)), acc);
    offsets += b.m * xr.scales[i] * static_cast<float>(-xr.neg_sums[i]);
  }
  return hn::GetLane(hn::SumOfLanes(df, acc)) + offsets;
}

// Codes times their group's scale fit int16 (|.| <= 63 * 31), so a super-block
// sums in one int32 vector; the mins meet the q8_K block sums once per block.
float DotUnpacked256Q8(TensorType type, const uint8_t* w, const BlockQ8_K* x, size_t nb) {
  const size_t bytes = static_cast<size_t>(tensor_type_block_bytes(type));
  const D16 d16;
  const D32 d32;
  const DF df;
  const size_t N = hn::Lanes(d16);
  auto acc = hn::Zero(df);
  float mins = 0.0f;
  IntBlock256 b;
  for (size_t i = 0; i < nb; ++i, w += bytes) {
    unpack_block256(type, w, &b);
    V32 s0 = hn::Zero(d32), s1 = hn::Zero(d32);
    int imin = 0;
    for (size_t g = 0; g < 16; ++g) {
      const auto scale = hn::Set(d16, b.scale[g]);
      for (size_t l = 0; l < 16; l += N) {
        MulAcc(hn::Mul(LoadI8(b.q + 16 * g + l), scale), LoadI8(x[i].qs + 16 * g + l), s0, s1);
      }
      imin += b.min[g] * x[i].bsums[g];
    }
    acc = hn::MulAdd(hn::Set(df, b.d * x[i].d), hn::ConvertTo(df, hn::Add(s0, s1)), acc);
    mins += b.dmin * x[i].d * static_cast<float>(imin);
  }
  return hn::GetLane(hn::SumOfLanes(df, acc)) - mins;
}

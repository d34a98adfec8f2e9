// Rotary position embedding as llama.cpp's ggml_rope_ext applies it (without
// YaRN): partial rotation, adjacent-pair or NeoX pairing, linear position
// scaling and per-pair frequency factors. The plain llama case keeps its own
// kernel (rope_f32 in kernels.h), which matches llama2.c bit for bit.
#pragma once

#include <cstddef>

namespace kvforge::core {

struct RopeParams {
  int n_rot = 0;                        // leading values of a head that rotate (even, <= head_dim)
  float theta = 10000.0f;               // frequency base
  float freq_scale = 1.0f;              // positions are multiplied by this (linear scaling)
  const float* freq_factors = nullptr;  // n_rot / 2 divisors of each pair's angle, or null
  bool neox = false;                    // pair i with i + n_rot/2 instead of 2i with 2i+1
};

// cos_sin[2i], cos_sin[2i+1] = cos, sin of pair i's angle at `pos` (n_rot floats).
// The angle is computed as ggml does (theta_i = theta_{i-1} * base^(-2/n_rot) in
// float), so results track llama.cpp's to the last few ulps.
void rope_angles(int pos, const RopeParams& p, float* cos_sin);

// Rotates `n_heads` consecutive heads of `head_dim` floats by precomputed angles.
void rope_apply(float* x, int n_heads, int head_dim, const RopeParams& p, const float* cos_sin);

}  // namespace kvforge::core

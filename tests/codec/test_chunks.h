// Synthetic KV chunks shared by the codec tests.
#pragma once

#include <cstdint>
#include <random>

#include "kvforge/codec/codec.h"

namespace kvforge::codec::testdata {

// Structured KV: per-channel offsets and outlier channels, values that drift
// slowly along tokens (token locality), plus noise.
inline KvChunk make_chunk(KvShape s, size_t T, uint32_t seed, bool structured = true) {
  KvChunk c;
  c.shape = s;
  c.n_tokens = T;
  c.allocate();
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int side = 0; side < 2; ++side) {
    auto& x = side ? c.v : c.k;
    for (int l = 0; l < s.n_layers; ++l)
      for (int h = 0; h < s.n_kv_heads; ++h)
        for (int d = 0; d < s.head_dim; ++d) {
          const float off = structured ? nd(rng) * (d % 5 == 0 ? 4.0f : 0.5f) : 0.0f;
          const float amp = structured ? (d % 7 == 3 ? 6.0f : 1.0f) : 1.0f;
          float walk = 0;
          for (size_t t = 0; t < T; ++t) {
            walk = structured ? 0.9f * walk + 0.3f * nd(rng) : nd(rng);
            x[c.index(l, h, t) + d] = off + amp * walk + (structured ? 0.05f * nd(rng) : 0.0f);
          }
        }
  }
  return c;
}

}  // namespace kvforge::codec::testdata

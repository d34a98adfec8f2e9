#include "kvforge/core/rope.h"

#include <cmath>

namespace kvforge::core {

void rope_angles(int pos, const RopeParams& p, float* cos_sin) {
  const float step = powf(p.theta, -2.0f / static_cast<float>(p.n_rot));
  float theta = static_cast<float>(pos);
  for (int i = 0; i < p.n_rot / 2; ++i) {
    const float factor = p.freq_factors != nullptr ? p.freq_factors[i] : 1.0f;
    const float angle = p.freq_scale * (theta / factor);
    cos_sin[2 * i] = cosf(angle);
    cos_sin[2 * i + 1] = sinf(angle);
    theta *= step;
  }
}

void rope_apply(float* x, int n_heads, int head_dim, const RopeParams& p, const float* cos_sin) {
  const int half = p.n_rot / 2;
  // NeoX pairs value i with i + n_rot/2; the others pair neighbours.
  const int stride = p.neox ? half : 1;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<size_t>(h) * static_cast<size_t>(head_dim);
    for (int i = 0; i < half; ++i) {
      const int a = p.neox ? i : 2 * i;
      const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
      const float x0 = v[a], x1 = v[a + stride];
      v[a] = x0 * c - x1 * s;
      v[a + stride] = x0 * s + x1 * c;
    }
  }
}

}  // namespace kvforge::core

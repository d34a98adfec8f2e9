#include "codec/symbols.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace kvforge::codec::cachegen {

namespace f = format;

int n_streams(const Geometry& g) {
  const int ng = g.H * ((g.D + kLanes - 1) / kLanes);
  return g.T >= f::kMultiStreamMinTokens ? std::min(ng, f::kMaxStreams) : 1;
}

CtxLut ctx_lut(const Plane& p, bool pred) {
  CtxLut lut;
  lut.fill(0);
  if (p.delta || p.nctx <= 1) return lut;
  for (int s = 0; s < 256; ++s) {
    const int r = s - p.soff;
    int c;
    if (!pred) {
      const int q = std::clamp(r, -p.Q, p.Q);
      c = static_cast<int>((static_cast<int64_t>(q + p.Q) * p.nctx) / (2 * p.Q + 1));
    } else {
      const int a = std::abs(r);
      c = 0;
      for (int k = 1; k < p.nctx; ++k) {
        const int bound = std::max(k, p.Q >> (2 * (p.nctx - 1 - k) + 2));
        if (a > bound) c = k;
      }
    }
    lut[s] = static_cast<uint8_t>(std::min(c, p.nctx - 1));
  }
  return lut;
}

void sym_range(const Plane& p, bool pred, int* lo, int* hi) {
  const int w = (pred || p.delta) ? 2 * p.Q : p.Q;
  *lo = std::max(0, p.soff - w);
  *hi = std::min(p.A - 1, p.soff + w);
}

PredictionChoice::PredictionChoice(const Plane& p, int n_channels)
    : A_(p.A), soff_(p.soff), nch_(n_channels), direct_(static_cast<size_t>(n_channels) * p.A, 0),
      predicted_(static_cast<size_t>(n_channels) * p.A, 0) {}

void PredictionChoice::add(const Geometry& g, const int16_t* q) {
  for (int h = 0; h < g.H; ++h)
    for (int d = 0; d < g.D; ++d) {
      const size_t row = (static_cast<size_t>(h) * g.D + d) * A_;
      for (size_t t = 0; t < g.T; ++t) {
        const size_t i = (h * g.T + t) * g.D + d;
        ++direct_[row + q[i] + soff_];
        ++predicted_[row + (t ? q[i] - q[i - g.D] : q[i]) + soff_];
      }
    }
}

void PredictionChoice::choose(uint8_t* pred) const {
  // Both histograms count one symbol per token, so they share n.
  for (int c = 0; c < nch_; ++c) {
    const uint32_t* h0 = &direct_[static_cast<size_t>(c) * A_];
    const uint32_t* h1 = &predicted_[static_cast<size_t>(c) * A_];
    double n = 0, b0 = 0, b1 = 0;
    for (int s = 0; s < A_; ++s) n += h0[s];
    for (int s = 0; s < A_; ++s) {
      if (h0[s]) b0 -= h0[s] * std::log2(h0[s] / n);
      if (h1[s]) b1 -= h1[s] * std::log2(h1[s] / n);
    }
    pred[c] = b1 < b0 ? 1 : 0;
  }
}

}  // namespace kvforge::codec::cachegen

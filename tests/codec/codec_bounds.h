// The error bound each codec documents (docs/FORMAT.md), checked element by element.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/core/half.h"

namespace kvforge::codec::testdata {

inline float fp16_round(float x) { return core::fp16_to_f32(core::f32_to_fp16(x)); }

// One plane (layer l, K or V) of a chunk and of its decoded copy.
struct PlanePair {
  const std::vector<float>& x;
  const std::vector<float>& y;
  size_t base;
  size_t T;
  int H, D;
  size_t at(int h, size_t t, int d) const { return base + (static_cast<size_t>(h) * T + t) * D + d; }
};

// Largest err / bound so far (must stay <= 1).
struct Worst {
  double ratio = 0;
  void check(float x, float y, double bound) {
    const double err = std::fabs(static_cast<double>(x) - y);
    ratio = std::max(ratio, err / (bound * 1.002 + 1e-6));
  }
};

inline void bound_fp16(const PlanePair& p, const std::string& spec) {
  for (int h = 0; h < p.H; ++h)
    for (size_t t = 0; t < p.T; ++t)
      for (int d = 0; d < p.D; ++d) EXPECT_EQ(fp16_round(p.x[p.at(h, t, d)]), p.y[p.at(h, t, d)]) << spec;
}

// q8 / q4: absmax of each row (group of channels) / Q / 2.
inline void bound_sym(const PlanePair& p, int Q, int G, Worst* w) {
  for (int h = 0; h < p.H; ++h)
    for (size_t t = 0; t < p.T; ++t)
      for (int g0 = 0; g0 < p.D; g0 += G) {
        float amax = 0;
        for (int d = g0; d < std::min(p.D, g0 + G); ++d) amax = std::max(amax, std::fabs(p.x[p.at(h, t, d)]));
        for (int d = g0; d < std::min(p.D, g0 + G); ++d) w->check(p.x[p.at(h, t, d)], p.y[p.at(h, t, d)], amax / Q / 2);
      }
}

// kivi2: K groups of 32 tokens per channel, V groups of 32 channels per token, step / 2;
// the residual tokens are fp16.
inline void bound_kivi2(const PlanePair& p, bool value_side, size_t residual, Worst* w) {
  const size_t tq = p.T < residual ? 0 : (p.T - residual) / 32 * 32;
  auto group = [&](const std::vector<size_t>& idx) {
    float lo = p.x[idx[0]], hi = p.x[idx[0]];
    for (size_t i : idx) lo = std::min(lo, p.x[i]), hi = std::max(hi, p.x[i]);
    for (size_t i : idx) w->check(p.x[i], p.y[i], (hi - lo) / 3 / 2 + std::fabs(lo) * 1e-3);
  };
  for (int h = 0; h < p.H; ++h) {
    for (size_t t0 = 0; !value_side && t0 < tq; t0 += 32)
      for (int d = 0; d < p.D; ++d) {
        std::vector<size_t> idx;
        for (size_t t = t0; t < t0 + 32; ++t) idx.push_back(p.at(h, t, d));
        group(idx);
      }
    for (size_t t = 0; value_side && t < tq; ++t)
      for (int d0 = 0; d0 < p.D; d0 += 32) {
        std::vector<size_t> idx;
        for (int d = d0; d < std::min(p.D, d0 + 32); ++d) idx.push_back(p.at(h, t, d));
        group(idx);
      }
    for (size_t t = tq; t < p.T; ++t)
      for (int d = 0; d < p.D; ++d) EXPECT_EQ(fp16_round(p.x[p.at(h, t, d)]), p.y[p.at(h, t, d)]);
  }
}

// cachegen-ref: absmax of each token over all heads and channels / Q / 2.
inline void bound_cachegen_ref(const PlanePair& p, int Q, Worst* w) {
  for (size_t t = 0; t < p.T; ++t) {
    float amax = 0;
    for (int h = 0; h < p.H; ++h)
      for (int d = 0; d < p.D; ++d) amax = std::max(amax, std::fabs(p.x[p.at(h, t, d)]));
    for (int h = 0; h < p.H; ++h)
      for (int d = 0; d < p.D; ++d) w->check(p.x[p.at(h, t, d)], p.y[p.at(h, t, d)], amax / Q / 2);
  }
}

// cachegen: K planes quantize x - offset and |x - offset| <= absmax, so absmax of
// each channel / Q / 2 bounds every plane.
inline void bound_cachegen(const PlanePair& p, int Q, Worst* w) {
  for (int h = 0; h < p.H; ++h)
    for (int d = 0; d < p.D; ++d) {
      float amax = 0;
      for (size_t t = 0; t < p.T; ++t) amax = std::max(amax, std::fabs(p.x[p.at(h, t, d)]));
      for (size_t t = 0; t < p.T; ++t) w->check(p.x[p.at(h, t, d)], p.y[p.at(h, t, d)], amax / Q / 2);
    }
}

// Returns the largest err / bound ratio over the chunk (must be <= 1).
inline double bound_ratio(const std::string& spec, const KvChunk& in, const KvChunk& out) {
  const auto& s = in.shape;
  const std::string name = spec.substr(0, spec.find(':'));
  Worst w;
  for (int side = 0; side < 2; ++side)
    for (int l = 0; l < s.n_layers; ++l) {
      const PlanePair p{side ? in.v : in.k, side ? out.v : out.k, in.index(l, 0, 0), in.n_tokens, s.n_kv_heads,
                        s.head_dim};
      if (name == "fp16" || name == "zstd") {
        bound_fp16(p, spec);
      } else if (name == "q8" || name == "q4") {
        bound_sym(p, name == "q8" ? 127 : 7, name == "q8" ? s.head_dim : std::min(s.head_dim, 32), &w);
      } else if (name == "kivi2") {
        const size_t at = spec.find("residual=");
        bound_kivi2(p, side == 1, at == std::string::npos ? 0 : std::stoul(spec.substr(at + 9)), &w);
      } else if (name == "cachegen-ref") {
        // LMCache: 32 bins under 10 layers; else K 32 for the first 10/32 of layers, V for 2.
        const int L = s.n_layers;
        const bool hi = L < 10 || (side == 0 ? l < (L * 10 + 31) / 32 : l < 2);
        bound_cachegen_ref(p, hi ? 15 : 7, &w);
      } else if (name == "cachegen") {
        // Fewest bins of any plane per level (docs/FORMAT.md).
        const int min_bins[] = {0, 64, 24, 12, 12, 8};
        bound_cachegen(p, min_bins[spec[spec.find('=') + 1] - '0'] / 2 - 1, &w);
      } else {
        ADD_FAILURE() << "no bound for " << spec;
      }
    }
  return w.ratio;
}

}  // namespace kvforge::codec::testdata

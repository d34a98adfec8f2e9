// cachegen symbols (docs/FORMAT.md, "cachegen"): the order a plane's symbols are
// coded in, the context of each symbol, and each channel's choice between coding q
// and q minus the previous token's q. Encoder, decoder and profile learning all
// take these from here, so the three cannot drift apart.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "codec/frame_format.h"
#include "codec/levels.h"

namespace kvforge::codec::cachegen {

inline constexpr int kLanes = format::kRansStates;

// A plane's shape: H heads x T tokens x D channels, [head][token][channel].
struct Geometry {
  int H, D;
  size_t T;
  int nch() const { return H * D; }
};

// Calls fn(h, d0, nl, t0, t1) for every (head, lane group) in stream order; a lane
// group's channels run through all tokens, so their tables stay in cache.
template <typename Fn>
void for_groups(const Geometry& g, Fn&& fn) {
  if (g.T == 0) return;
  for (int h = 0; h < g.H; ++h)
    for (int d0 = 0; d0 < g.D; d0 += kLanes) fn(h, d0, std::min(kLanes, g.D - d0), size_t{0}, g.T);
}

// Streams per plane: lane group j (heads in order, then d0 = 0, 8, ...) goes to stream
// j mod n; several streams let the decoder interleave independent groups.
int n_streams(const Geometry& g);

// Context of the next symbol from the previous symbol of the channel (non-delta
// planes): direct channels by the previous q's position in [-Q, Q], predicted
// channels (pred) by the previous residual's magnitude. 256 entries so any byte
// indexes it.
using CtxLut = std::array<uint8_t, 256>;
CtxLut ctx_lut(const Plane& p, bool pred);

// Symbol range a channel can produce: direct [soff-Q, soff+Q], predicted [soff-2Q, soff+2Q].
void sym_range(const Plane& p, bool pred, int* lo, int* hi);

// Calls fn(channel, ctx, sym, lane) for every symbol of the plane, in stream order.
// q[(h*T+t)*D+d]; pred[c] (may be null): channel c codes q - previous q.
template <typename Fn>
void for_symbols(const Plane& p, const Geometry& g, const int16_t* q, const uint8_t* pred, Fn&& fn) {
  const CtxLut lut[2] = {ctx_lut(p, false), ctx_lut(p, true)};
  std::vector<int> prev_sym(g.nch(), p.soff);
  for_groups(g, [&](int h, int d0, int nl, size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      for (int i = 0; i < nl; ++i) {
        const int d = d0 + i, c = h * g.D + d;
        const size_t idx = (h * g.T + t) * g.D + d;
        int sym, ctx;
        if (p.delta) {
          const size_t ta = t - t % format::kDeltaGroup;
          ctx = t == ta ? 0 : 1;
          sym = (t == ta ? q[idx] : q[idx] - q[(h * g.T + ta) * g.D + d]) + p.soff;
        } else {
          const bool pr = pred != nullptr && pred[c];
          const int r = (pr && t > 0) ? q[idx] - q[idx - g.D] : q[idx];
          sym = r + p.soff;
          ctx = lut[pr][prev_sym[c]];
          prev_sym[c] = sym;
        }
        fn(c, ctx, sym, i);
      }
    }
  });
}

// Per-channel histograms of the symbols q (direct) and q - previous q (predicted)
// would produce, summed over any number of planes of the same channels; a channel is
// predicted when that costs fewer bits (zero-order entropy).
class PredictionChoice {
 public:
  PredictionChoice(const Plane& p, int n_channels);
  // Adds a plane's symbols, q[(h*T+t)*D+d].
  void add(const Geometry& g, const int16_t* q);
  // pred[c] = 1 where channel c codes q - previous q.
  void choose(uint8_t* pred) const;

 private:
  int A_, soff_, nch_;
  std::vector<uint32_t> direct_, predicted_;  // [channel][A]
};

}  // namespace kvforge::codec::cachegen

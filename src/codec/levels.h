// cachegen level schedules (docs/FORMAT.md, "cachegen levels") and how each
// (layer, K/V) plane of a chunk is coded under them.
#pragma once

#include <cstdint>
#include <span>

namespace kvforge::codec::cachegen {

// Bins of raw-channel planes: K's first ceil(L/3) layers, then the rest; V's first
// max(1, round(L/16)) layers, then the rest.
struct RawBins {
  int k_first, k_rest;
  int v_first, v_rest;
};

// Bins of profile (basis) planes: the first max(1, round(L/16)) layers, the rest,
// and the last layer, for K and for V.
struct BasisBins {
  int k_first, k_rest, k_last;
  int v_first, v_rest, v_last;
};

struct LevelSpec {
  uint8_t id;
  RawBins raw;
  BasisBins basis;
  bool delta;  // token delta against anchors (else per-channel prediction + contexts)
  int nctx;    // K context classes when !delta (V: 1)
};

// Every level, by id.
std::span<const LevelSpec> levels();
const LevelSpec* find_level(int id);

// How one (layer, K/V) plane is coded.
struct Plane {
  int Q = 15;          // quantized values q in [-Q, Q]
  int A = 31;          // alphabet size
  int soff = 15;       // symbol = residual + soff
  int nctx = 1;        // tables per channel
  bool delta = false;  // anchors + deltas (ctx 0 = anchor, ctx 1 = delta)
  bool per_token = false;
  bool raw_tables = false;
  bool offset = false;  // per-channel fp16 offsets
  // Profile (basis) planes: one step for all components, S = geometric mean of
  // amax_c / Qnom, widened to amax_c / Q where S would clip (Q = 2 Qnom).
  bool basis = false;
  int Qnom = 15;
};

// A cachegen plane of `spec` (basis: a profile frame's plane).
Plane cachegen_plane(const LevelSpec& spec, int n_layers, int layer, int kv, bool basis);
// A cachegen-ref plane (LMCache's schedule).
Plane ref_plane(int n_layers, int layer, int kv);

}  // namespace kvforge::codec::cachegen

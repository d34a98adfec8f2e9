// The level tables. Measured on stories260K: in raw channels the deeper layers are
// the sensitive ones (the reverse of CacheGen's 7B observation), so those schedules
// give the later layers more bins. In a profile's basis the first layer's values and
// the last layer matter most (one extra bin there lowers KL 3-10x more than anywhere
// else), so profile planes have their own schedule.
#include "codec/levels.h"

#include <algorithm>

#include "codec/frame_format.h"

namespace kvforge::codec::cachegen {
namespace {

namespace f = format;

constexpr LevelSpec kLevels[] = {
    {.id = 1,
     .raw = {.k_first = 96, .k_rest = 128, .v_first = 64, .v_rest = 96},
     .basis = {.k_first = 48, .k_rest = 40, .k_last = 64, .v_first = 64, .v_rest = 40, .v_last = 48},
     .delta = false,
     .nctx = 3},
    {.id = 2,
     .raw = {.k_first = 32, .k_rest = 48, .v_first = 24, .v_rest = 32},
     .basis = {.k_first = 24, .k_rest = 20, .k_last = 40, .v_first = 48, .v_rest = 16, .v_last = 32},
     .delta = false,
     .nctx = 3},
    {.id = 3,
     .raw = {.k_first = 20, .k_rest = 28, .v_first = 12, .v_rest = 20},
     .basis = {.k_first = 16, .k_rest = 14, .k_last = 32, .v_first = 40, .v_rest = 12, .v_last = 24},
     .delta = false,
     .nctx = 3},
    {.id = 4,
     .raw = {.k_first = 16, .k_rest = 24, .v_first = 12, .v_rest = 16},
     .basis = {.k_first = 12, .k_rest = 12, .k_last = 28, .v_first = 40, .v_rest = 10, .v_last = 20},
     .delta = false,
     .nctx = 3},
    {.id = 5,
     .raw = {.k_first = 12, .k_rest = 16, .v_first = 8, .v_rest = 12},
     .basis = {.k_first = 10, .k_rest = 10, .k_last = 20, .v_first = 24, .v_rest = 8, .v_last = 16},
     .delta = false,
     .nctx = 3},
};

int k_first_layers(int L) { return (L + 2) / 3; }
int v_first_layers(int L) { return std::max(1, (L + 8) / 16); }

int raw_bins(const RawBins& b, int L, int layer, int kv) {
  if (kv == 0) return layer < k_first_layers(L) ? b.k_first : b.k_rest;
  return layer < v_first_layers(L) ? b.v_first : b.v_rest;
}

int basis_bins(const BasisBins& b, int L, int layer, int kv) {
  const bool first = layer < v_first_layers(L), last = layer == L - 1;
  if (kv == 0) return first ? b.k_first : last ? b.k_last : b.k_rest;
  return first ? b.v_first : last ? b.v_last : b.v_rest;
}

}  // namespace

std::span<const LevelSpec> levels() { return kLevels; }

const LevelSpec* find_level(int id) {
  for (const auto& l : kLevels)
    if (l.id == id) return &l;
  return nullptr;
}

Plane cachegen_plane(const LevelSpec& s, int L, int layer, int kv, bool basis) {
  Plane p;
  const int bins = basis ? basis_bins(s.basis, L, layer, kv) : raw_bins(s.raw, L, layer, kv);
  p.Qnom = bins / 2 - 1;
  p.basis = basis;
  p.Q = basis ? std::min(f::kMaxBasisQ, 2 * p.Qnom) : p.Qnom;
  p.delta = s.delta;
  p.A = 4 * p.Q + 1;
  p.soff = 2 * p.Q;
  p.nctx = s.delta ? 2 : (kv == 0 ? s.nctx : 1);
  p.offset = kv == 0 || basis;
  return p;
}

Plane ref_plane(int L, int layer, int kv) {
  // LMCache: 32 bins for K and V on models under 10 layers; else K 32 for the first
  // ~third of layers then 16, V 32 for the first 2 layers then 16 (7B schedule).
  Plane p;
  int bins = 32;
  if (L >= 10) bins = kv == 0 ? (layer < (L * 10 + 31) / 32 ? 32 : 16) : (layer < 2 ? 32 : 16);
  p.Q = bins / 2 - 1;
  p.A = 2 * p.Q + 1;
  p.soff = p.Q;
  p.per_token = true;
  p.raw_tables = true;
  return p;
}

}  // namespace kvforge::codec::cachegen

// cachegen encoder: one (layer, K/V) plane to its steps, offsets, prediction flags,
// tables and rANS streams (docs/FORMAT.md, "cachegen", steps 1-4).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codec/levels.h"
#include "codec/symbols.h"
#include "codec/tables.h"

namespace kvforge::codec::cachegen {

// Quantizes one plane: steps and offsets (fp16 bits) and values q[(h*T+t)*D+d].
// Basis planes: fixed_step > 0 is the profile's step for the plane (else one is
// derived from this chunk); *step_used (optional) receives the step before widening.
void quantize_plane(const Plane& p, const Geometry& g, const float* x, std::vector<uint16_t>* steps,
                    std::vector<uint16_t>* offs, std::vector<int16_t>* q, float fixed_step = 0,
                    float* step_used = nullptr);

// Appends plane x ([head][token][head_dim]) coded as p. profile: the plane's rows,
// flags and step (the frame then ships none); null: chosen from the chunk and shipped.
void encode_plane(const Plane& p, const Geometry& g, const float* x, const PlaneTables* profile, std::string* out);

}  // namespace kvforge::codec::cachegen

// cachegen decoder: a plane's steps, offsets, tables and rANS streams back to
// values (docs/FORMAT.md, "cachegen"). Lane groups are decoded by
// decode_group_ref (scalar, any CPU) or, where the CPU has AVX2, by
// decode_groups8_avx2 (decoder_avx2.cc), which must give the same bits.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "codec/levels.h"
#include "codec/rans.h"
#include "codec/symbols.h"
#include "codec/tables.h"
#include "kvforge/core/status.h"

namespace kvforge::codec::cachegen {

inline constexpr uint32_t kSlots = rans::kProbScale;
// Decode table entry: sym (8 bits) | freq - 1 | slot - start | next context (2 bits).
inline constexpr int kBiasShift = 8 + rans::kProbBits;
inline constexpr int kCtxShift = 8 + 2 * rans::kProbBits;
static_assert(kCtxShift + 2 <= 32);

inline uint32_t dec_freq(uint32_t e) { return ((e >> 8) & (kSlots - 1)) + 1; }
inline uint32_t dec_bias(uint32_t e) { return (e >> kBiasShift) & (kSlots - 1); }
inline uint32_t dec_ctxoff(uint32_t e) { return (e >> kBiasShift) & (3 * kSlots); }  // ctx_next * kSlots

// One lane group being decoded: its tables (lane i, ctx x at tab + i*stride + x*2^11),
// per-lane steps, offsets, prediction masks, and its stream.
struct GroupDec {
  const uint32_t* tab;
  uint32_t stride;
  int h, d0, nl;
  float step[kLanes], off[kLanes];
  int32_t pm[kLanes];     // -1: predicted channel
  uint32_t ctx0[kLanes];  // initial context offset (the context after symbol soff)
  uint32_t* st;           // kLanes states of the group's stream
  const uint8_t** wp;     // the stream's word pointer
  const uint8_t* wend;
  // Profile planes with basis blocks of 8 channels (one lane group): the block's
  // matrix, applied as values are written (x_row = y_row * mix, 8 x 8 row-major).
  const float* mix = nullptr;
};

// How a plane's symbols become values.
enum class Mode { kChannel, kDelta, kPerToken };

// NG (1..4) full 8-lane groups of NG different streams decoded together with AVX2
// (decoder_avx2.cc). False on an invalid symbol or a short stream.
bool decode_groups8_avx2(const Plane& p, const Geometry& g, Mode mode, const float* tstep, const GroupDec* gds,
                         int ng, float* x);
// The CPU has AVX2, FMA and POPCNT and the environment has no KVF_CODEC_NO_SIMD
// (both read once).
bool avx2_decoder_supported();
// avx2_decoder_supported() and no test forced the reference: decode_groups8_avx2 runs.
bool avx2_decoder_enabled();
// Tests: true makes every plane decode through decode_group_ref (process-wide).
void force_ref_decoder(bool on);

// Steps (cachegen-ref: per token, divided by Q; else per channel) and offsets.
Status read_steps(const Plane& p, const Geometry& g, ByteReader* in, std::vector<float>* steps,
                  std::vector<float>* offs);

// Reused allocations across planes.
struct DecodeScratch {
  std::unique_ptr<uint32_t[]> tabs;
  size_t tabs_n = 0;
};

// Reads the plane's rANS streams from *in and decodes them into x ([head][token]
// [head_dim]). mixes (optional): one 8 x 8 matrix per lane group, applied as values
// are written. Corruption on any inconsistency.
Status decode_symbols(const Plane& p, const Geometry& g, const PlaneTables& tables, const std::vector<float>& steps,
                      const std::vector<float>& offs, const float* mixes, ByteReader* in, DecodeScratch* scratch,
                      float* x);

}  // namespace kvforge::codec::cachegen

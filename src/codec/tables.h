// cachegen symbol tables (docs/FORMAT.md, "cachegen", step 3): one frequency row
// per (channel, context), counted from a plane's symbols, shipped in the frame
// (compact varint rows, or raw u16 for cachegen-ref) or taken from a profile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codec/levels.h"
#include "codec/symbols.h"

namespace kvforge::codec::cachegen {

// Where a plane's rows come from: row (channel, ctx) at freq + (channel * n_ctx + ctx)
// * alphabet (a profile's rows are wider than the plane's alphabet); pred[channel]
// (null: none predicted); step: the profile's plane step (0: derived per chunk).
struct PlaneTables {
  const uint16_t* freq = nullptr;
  size_t n_ctx = 0, alphabet = 0;
  const uint8_t* pred = nullptr;
  float step = 0;
};

// Bounds-checked reader of a section's bytes.
class ByteReader {
 public:
  ByteReader(const uint8_t* p, const uint8_t* e) : p_(p), e_(e) {}
  bool take(size_t n, const uint8_t** out);
  bool u8(uint32_t* v);
  bool varint(uint32_t* v);  // LEB128, at most 21 bits
  bool done() const { return p_ == e_; }

 private:
  const uint8_t* p_;
  const uint8_t* e_;
};

// Counts -> normalised rows [channel][ctx][A] (rows without symbols stay all-zero).
void build_freq(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, const uint8_t* pred,
                std::vector<uint16_t>* freq);
void write_tables(const Plane& p, const std::vector<uint16_t>& freq, std::string* out);
// False on any malformed row.
bool read_tables(const Plane& p, size_t rows, ByteReader* in, std::vector<uint16_t>* freq);

// Prediction flags as the frame stores them: ceil(nch/8) bytes, bit c%8 of byte c/8.
void write_pred_flags(const std::vector<uint8_t>& pred, std::string* out);
// False when truncated or when a bit past nch is set.
bool read_pred_flags(size_t nch, ByteReader* in, std::vector<uint8_t>* pred);

}  // namespace kvforge::codec::cachegen

// Interleaved rANS (32-bit states, 16-bit renormalisation, 2^11 probability
// scale), written for the cachegen codecs. Symbols come in lane groups: lane i of
// a group uses state i (format::kRansStates states), so the decoder keeps the
// states in registers and their dependency chains overlap. The decoder's slot tables
// (2^11 entries per channel and context, no divisions) are built in decoder.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codec/frame_format.h"

namespace kvforge::codec::rans {

inline constexpr int kProbBits = format::kRansProbBits;
inline constexpr uint32_t kProbScale = 1u << kProbBits;
inline constexpr uint32_t kLow = format::kRansLow;
static_assert(kProbBits <= 16 && kLow == (1u << 16));

// Normalises counts[0..n) to frequencies summing to 2^kProbBits; every symbol with
// a nonzero count (or, when `floor_all`, every symbol) gets >= 1. False if all zero
// and !floor_all.
bool normalize(const uint32_t* counts, int n, bool floor_all, uint16_t* freq);

class Encoder {
 public:
  // Symbols are pushed in reverse decode order: (sym, table, state index).
  void put(uint32_t& x, uint32_t freq, uint32_t start) {
    const uint64_t x_max = (static_cast<uint64_t>(kLow >> kProbBits) << 16) * freq;
    if (x >= x_max) {
      words_.push_back(static_cast<uint16_t>(x & 0xffff));
      x >>= 16;
    }
    x = ((x / freq) << kProbBits) + (x % freq) + start;
  }
  // Appends the stream (kRansStates states, then words in decode order) to *out.
  void finish(const uint32_t st[format::kRansStates], std::string* out);

 private:
  std::vector<uint16_t> words_;
};

}  // namespace kvforge::codec::rans

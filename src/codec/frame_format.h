// Frame format constants shared by every encoder and decoder. The prose spec is
// docs/FORMAT.md; change both together (and bump kFormatVersion + its change log).
// All integers are little-endian, written byte by byte through memcpy; no struct
// goes to disk raw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "kvforge/core/little_endian.h"

namespace kvforge::codec::format {

// 0x89 keeps the magic out of text files (as PNG's does); "KVC" names it.
inline constexpr uint8_t kMagic[4] = {0x89, 'K', 'V', 'C'};
inline constexpr uint16_t kFormatVersion = 4;

// Fixed header field offsets (bytes from the frame start).
inline constexpr size_t kOffMagic = 0;         // 4 bytes
inline constexpr size_t kOffVersion = 4;       // u16
inline constexpr size_t kOffCodecId = 6;       // u8
inline constexpr size_t kOffLevel = 7;         // u8
inline constexpr size_t kOffFlags = 8;         // u32
inline constexpr size_t kOffParam = 12;        // u32 codec parameter (kivi2: residual)
inline constexpr size_t kOffLayers = 16;       // u32
inline constexpr size_t kOffKvHeads = 20;      // u32
inline constexpr size_t kOffHeadDim = 24;      // u32
inline constexpr size_t kOffTokens = 28;       // u32
inline constexpr size_t kOffFingerprint = 32;  // u64
inline constexpr size_t kOffProfileId = 40;    // u64
inline constexpr size_t kOffFrameBytes = 48;   // u64
inline constexpr size_t kOffFirstPosition = 56;  // u32 position of the first token
inline constexpr size_t kOffReserved = 60;     // u32, must be zero
inline constexpr size_t kFixedHeaderBytes = 64;
// Section index entry: u64 offset, u64 size, u64 xxh64(section bytes, seed 0).
inline constexpr size_t kIndexEntryBytes = 24;
inline constexpr size_t kChecksumBytes = 8;
static_assert(kOffReserved + 4 == kFixedHeaderBytes);

inline constexpr size_t header_bytes(size_t n_layers) {
  return kFixedHeaderBytes + kIndexEntryBytes * n_layers + kChecksumBytes;
}

// Flags.
inline constexpr uint32_t kFlagProfile = 1u << 0;  // symbol tables come from a profile
inline constexpr uint32_t kKnownFlags = kFlagProfile;

// Codec ids (pinned: never renumber).
enum CodecId : uint8_t {
  kFp16 = 1,
  kQ8 = 2,
  kQ4 = 3,
  kKivi2 = 4,
  kZstd = 5,
  kCacheGenRef = 6,
  kCacheGen = 7,
};

// Limits, checked before allocating (decoder and encoder).
inline constexpr uint32_t kMaxLayers = 1024;
inline constexpr uint32_t kMaxKvHeads = 1024;
inline constexpr uint32_t kMaxHeadDim = 1024;
inline constexpr uint32_t kMaxTokens = 1u << 24;
inline constexpr uint32_t kMaxFirstPosition = 1u << 30;
inline constexpr uint64_t kMaxElementsPerSide = 1ull << 31;  // K (or V) floats in a chunk

// Block pins (ggml-style).
inline constexpr int kQ8Max = 127;          // q8: int8 in [-127, 127], one fp16 scale per row
inline constexpr int kQ4Max = 7;            // q4: nibble in [-7, 7] + 8, one fp16 scale per group
inline constexpr int kQ4Group = 32;         // q4: channels per scale group (head_dim rows split)
inline constexpr int kKiviGroup = 32;       // kivi2: tokens per key group / channels per value group
inline constexpr int kKiviMaxResidual = 32;

// Entropy coder (cachegen, cachegen-ref): interleaved rANS.
inline constexpr int kRansProbBits = 11;              // frequencies sum to 2^11
inline constexpr uint32_t kRansLow = 1u << 16;        // state lower bound; 16-bit renormalisation
inline constexpr int kRansStates = 8;                 // interleaved states (lanes) per stream
inline constexpr int kMaxAlphabet = 256;
inline constexpr int kMaxStreams = 4;                 // rANS streams per plane (lane groups round-robin)
inline constexpr uint32_t kMultiStreamMinTokens = 256; // fewer tokens: one stream per plane
inline constexpr int kDeltaGroup = 10;                // token-delta anchor spacing

// cachegen profile frames: Q = min(kMaxBasisQ, 2 Qnom), which keeps a basis plane's
// alphabet 4Q+1 within 256 symbols (context LUTs index a byte). The level schedules
// themselves are tables in levels.cc.
inline constexpr int kMaxBasisQ = 63;

// Profile files (.kvprof). A basis block is checked for orthonormality when a
// profile is read (block^3 work), hence its bound.
inline constexpr char kProfileMagic[4] = {'K', 'V', 'F', 'P'};
inline constexpr uint16_t kProfileVersion = 3;
inline constexpr uint32_t kMaxBasisBlock = 256;
inline constexpr int kMaxProfileContexts = 16;  // n_ctx of a level's tables

// Little-endian helpers (core's, so every format codes integers one way).
using core::get_u16;
using core::get_u32;
using core::get_u64;
using core::put_u16;
using core::put_u32;
using core::put_u64;
using core::put_u8;
using core::set_u64;

}  // namespace kvforge::codec::format

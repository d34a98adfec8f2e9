// Stored-chunk container constants shared by the writer and the parser. The
// prose spec is docs/STORE.md; change both together (and bump kVersion and its
// change log). Integers are little-endian (core/little_endian.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvforge::store::format {

// 0x89 keeps the magic out of text files; "KVS": kvforge store (codec frames use "KVC").
inline constexpr uint8_t kMagic[4] = {0x89, 'K', 'V', 'S'};
inline constexpr uint16_t kVersion = 1;

inline constexpr size_t kOffMagic = 0;           // 4 bytes
inline constexpr size_t kOffVersion = 4;         // u16
inline constexpr size_t kOffFlags = 6;           // u16: kFlagSigned, other bits reserved (0)
inline constexpr size_t kOffChunkBytes = 8;      // u64 whole container, checksum included
inline constexpr size_t kOffKey = 16;            // 16 bytes, the key's canonical form
inline constexpr size_t kOffFingerprint = 32;    // u64
inline constexpr size_t kOffChunkIndex = 40;     // u32
inline constexpr size_t kOffFirstPosition = 44;  // u32
inline constexpr size_t kOffTokens = 48;         // u32 token count
inline constexpr size_t kOffLevels = 52;         // u32 level count
inline constexpr size_t kFixedHeaderBytes = 56;
static_assert(kOffLevels + 4 == kFixedHeaderBytes);
// Per level: u16 name length, u16 reserved (0), name, u64 frame length, frame.
inline constexpr size_t kLevelHeadBytes = 4;
inline constexpr size_t kFrameLengthBytes = 8;
inline constexpr size_t kChecksumBytes = 8;  // XXH64 (seed 0) of everything before it
// Flag: every level's frame is followed by its kMacBytes HMAC-SHA256 (store/chunk_signer.h).
inline constexpr uint16_t kFlagSigned = 1;
inline constexpr size_t kMacBytes = 32;
inline constexpr size_t kMinChunkBytes = kFixedHeaderBytes + kChecksumBytes;

// Limits, checked before anything is allocated.
inline constexpr uint32_t kMaxTokens = 1u << 24;  // as a codec frame's
inline constexpr uint32_t kMaxLevels = 64;
inline constexpr uint16_t kMaxLevelNameBytes = 128;

}  // namespace kvforge::store::format

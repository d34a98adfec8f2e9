// A model profile: the cachegen codec's symbol distributions learned once per
// model (from a few exported chunks) and shared by encoder and decoder, so the
// per-(layer, K/V, channel, context) tables need not ship inside every frame.
// A frame encoded with a profile records the profile's id(); decoding it needs
// the same profile (DecodeOptions::profile).
//
// File format (.kvprof): see docs/FORMAT.md ("Profile files"); written atomically.
// Thread-safety: immutable after construction; share freely across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/core/status.h"

namespace kvforge::codec {

class Profile {
 public:
  // One cachegen level's tables: freq[(((layer * 2 + kv) * channels + channel) * n_ctx + ctx) * alphabet + sym],
  // each (layer, kv, channel, ctx) row summing to 2^11 with every symbol of the
  // channel's reachable range >= 1 (docs/FORMAT.md). pred[(layer * 2 + kv) * channels
  // + channel] is 1 when that channel codes q minus the previous token's q.
  struct LevelTables {
    uint8_t level = 0;
    uint16_t alphabet = 0;
    uint16_t n_ctx = 0;
    std::vector<uint16_t> freq;
    std::vector<uint8_t> pred;
  };

  uint64_t model_fingerprint = 0;
  KvChunkShape shape;
  std::vector<LevelTables> levels;

  // xxh64 of serialize(); never 0.
  uint64_t id() const;
  std::string serialize() const;
  // Corruption for damaged bytes (the file carries a checksum).
  static Result<Profile> parse(std::string_view bytes);
  // InvalidArgument unless `shape` matches the profile's.
  Status check_compatible(const KvChunkShape& shape) const;
  // Tables for one level, or nullptr.
  const LevelTables* find(uint8_t level) const;

  // Internal: the id, computed once on first use (thread-safe) and shared by copies;
  // recomputed if the tables' storage changes. (Decoders build rANS decode tables per
  // lane group while decoding; nothing large is cached.)
  // Treat a profile as immutable once it has been used to encode or decode.
  struct Cache;
  std::shared_ptr<Cache> cache() const;

 private:
  static std::shared_ptr<Cache> new_cache();
  std::shared_ptr<Cache> cache_ = new_cache();
};

// Learns tables for every cachegen level from sample chunks (all of one shape).
Result<Profile> learn_profile(std::span<const KvChunkView> chunks, uint64_t model_fingerprint);
Status save_profile(const std::string& path, const Profile& profile);
Result<Profile> load_profile(const std::string& path);

}  // namespace kvforge::codec

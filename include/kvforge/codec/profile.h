// A model profile: the cachegen codec's symbol distributions learned once per
// model (from a few exported chunks) and shared by encoder and decoder, so the
// per-(layer, K/V, channel, context) tables need not ship inside every frame.
// A frame encoded with a profile records the profile's id(); decoding it needs
// the same profile (DecodeOptions::profile).
//
// File format (.kvprof): see docs/FORMAT.md ("Profile files"); written atomically.
// Thread-safety: immutable (fields are read through accessors, the id is fixed when
// the profile is parsed or learned); share freely across threads.
#pragma once

#include <cstdint>
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
    // Quantization step of each plane in the basis, [layer * 2 + kv] (0: derive per
    // chunk). A fixed step keeps each component's symbol statistics the same in every
    // chunk, as the tables assume.
    std::vector<float> steps;
  };

  // Everything a profile holds. Transform coding (docs/FORMAT.md, "Profile
  // transform"): every plane is coded as y = U^T (sqrt(w) .* x) per block of `block`
  // channels, keys first un-rotated to their pre-RoPE values when rope_theta > 0.
  // channels = n_kv_heads * head_dim.
  struct Data {
    uint64_t model_fingerprint = 0;
    KvShape shape;
    float rope_theta = 0;
    uint32_t block = 0;
    std::vector<float> weights;  // [(layer * 2 + kv) * channels + c], each > 0
    std::vector<float> basis;    // [(layer * 2 + kv)][channels / block][block][block]: U[c][j]
    std::vector<LevelTables> levels;
  };

  // An empty profile (no levels; its shape matches no chunk).
  Profile();
  // Takes `data` as is and fixes the id (parse and learn_profile check data first;
  // a frame coded with an unchecked profile may not decode).
  explicit Profile(Data data);

  uint64_t model_fingerprint() const { return d_.model_fingerprint; }
  const KvShape& shape() const { return d_.shape; }
  float rope_theta() const { return d_.rope_theta; }
  uint32_t block() const { return d_.block; }
  const std::vector<float>& weights() const { return d_.weights; }
  const std::vector<float>& basis() const { return d_.basis; }
  const std::vector<LevelTables>& levels() const { return d_.levels; }
  const Data& data() const { return d_; }

  // xxh64 of serialize(), never 0; fixed when the profile is built.
  uint64_t id() const { return id_; }
  std::string serialize() const;
  // Corruption for damaged bytes (the file carries a checksum).
  static Result<Profile> parse(std::string_view bytes);
  // InvalidArgument unless `shape` matches the profile's.
  Status check_compatible(const KvShape& shape) const;
  // Tables for one level, or nullptr.
  const LevelTables* find(uint8_t level) const;

 private:
  Data d_;
  uint64_t id_ = 0;
};

struct LearnOptions {
  // Position of each chunk's first token (empty: all 0). Needed to undo RoPE.
  std::vector<int32_t> first_positions;
  // > 0: keys are stored post-RoPE with this base (the model's rope_theta, pairs
  // (2i, 2i+1) as kvforge's runtime rotates them); the profile codes them pre-RoPE.
  float rope_theta = 0;
  // Importance of each key channel, [layer][n_kv_heads * head_dim] (e.g. the mean
  // squared query component, kv::QueryMoments); empty: all equal.
  std::vector<float> key_weights;
  // Importance of each value channel, same layout (e.g. the squared norm of the
  // output-projection columns it feeds); empty: all equal.
  std::vector<float> value_weights;
  // Channels per basis block (whole heads, or a divisor of head_dim); 0: all channels
  // of a layer when there are <= 64 of them, else the largest divisor of head_dim
  // <= 8 (decoding costs `block` multiply-adds per value; larger blocks decorrelate
  // more channels and decode slower).
  int block = 0;
};

// Learns the basis and tables for every cachegen level from sample chunks (all of
// one shape).
Result<Profile> learn_profile(std::span<const KvChunkView> chunks, uint64_t model_fingerprint,
                              const LearnOptions& options = {});
Status save_profile(const std::string& path, const Profile& profile);
Result<Profile> load_profile(const std::string& path);

}  // namespace kvforge::codec

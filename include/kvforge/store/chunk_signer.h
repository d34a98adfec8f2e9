// Signing stored chunks with a store secret, so that a server or loader that
// holds it accepts only chunks written by a holder of it (issue 17: a valid
// container of text Y's KV stored under text X's key is otherwise accepted).
//
// Each level carries HMAC-SHA256(secret, key | chunk_index | first_position |
// n_tokens | token ids | level name | frame) (docs/STORE.md, "Signed chunks"),
// so one level fetched alone is checked against the tokens its reader expects.
//
// Thread-safety: immutable after make(); sign and verify may run concurrently.
#pragma once
#include <span>
#include <string>
#include <string_view>

#include "kvforge/core/status.h"
#include "kvforge/store/stored_chunk.h"

namespace kvforge::store {

// A secret file's bytes, one trailing newline dropped (as `echo` leaves it).
Result<std::string> read_secret_file(const std::string& path);

class ChunkSigner {
 public:
  static constexpr size_t kMacBytes = 32;
  static constexpr size_t kMinSecretBytes = 16;

  // InvalidArgument for a secret shorter than kMinSecretBytes.
  static Result<ChunkSigner> make(std::string secret);
  // The secret is the file's bytes, one trailing newline dropped.
  static Result<ChunkSigner> from_file(const std::string& path);

  // The MAC of one level of the chunk identified by the other arguments.
  std::string level_mac(const ChunkKey& key, uint32_t chunk_index, uint32_t first_position,
                        std::span<const int32_t> tokens, std::string_view level, std::string_view frame) const;
  // Fills every level's mac.
  void sign(StoredChunk* chunk) const;
  // Corruption naming the chunk when it is unsigned or a level's MAC does not match.
  Status verify(const StoredChunk& chunk) const;
  // Corruption when `mac` is not level_mac(...) (compared in constant time).
  Status verify_level(const ChunkKey& key, uint32_t chunk_index, uint32_t first_position,
                      std::span<const int32_t> tokens, std::string_view level, std::string_view frame,
                      std::string_view mac) const;

 private:
  explicit ChunkSigner(std::string secret) : secret_(std::move(secret)) {}
  std::string secret_;
};

}  // namespace kvforge::store

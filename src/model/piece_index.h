// Piece text -> token id, shared by the SentencePiece and BPE tokenizers.
// Encode spends much of its time looking up candidate pieces; a flat
// power-of-two open-addressing table with stored hashes avoids
// std::unordered_map's node chains and modulo (SPM encode ran ~25% faster).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvforge::model::detail {

class PieceIndex {
 public:
  PieceIndex() = default;
  // Indexes `tokens`, which must outlive the index. Later duplicates win, as in
  // llama.cpp's token_to_id table.
  explicit PieceIndex(const std::vector<std::string>& tokens);

  int32_t find(std::string_view piece) const;  // -1 when absent
  size_t max_piece_bytes() const { return max_piece_bytes_; }

 private:
  struct Slot {
    uint32_t hash = 0;
    int32_t id = -1;  // -1: empty
  };
  void insert(std::string_view piece, int32_t id);

  const std::vector<std::string>* tokens_ = nullptr;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t max_piece_bytes_ = 0;  // no longer piece exists, so longer lookups skip the probe
};

// FNV-1a: pieces are a few bytes, so a simple inline hash wins.
inline uint32_t piece_hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return static_cast<uint32_t>(h ^ (h >> 32));
}

}  // namespace kvforge::model::detail

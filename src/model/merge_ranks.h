// BPE merge ranks: (left piece, right piece) -> rank, lowest merges first.
// Pairs of pieces that are both tokens (all of them in a well-formed byte-level
// vocabulary) are keyed by their ids in a flat open-addressing table, so a
// lookup costs no string work; any other pair falls back to a string map.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/piece_index.h"

namespace kvforge::model::detail {

class MergeRanks {
 public:
  MergeRanks() = default;
  // `merges` as GGUF stores them ("left right", split at the first space after
  // the first byte, as llama.cpp splits them); entries without a space are
  // skipped. A repeated pair keeps its first (best) rank.
  MergeRanks(const std::vector<std::string>& merges, const PieceIndex& pieces);

  // The rank of merging left+right, or -1. Ids are the pieces' token ids (-1
  // when a piece is not a token).
  int32_t rank(int32_t left_id, std::string_view left, int32_t right_id, std::string_view right) const;

  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t key = kEmpty;
    int32_t rank = -1;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t key_of(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  static size_t slot_of(uint64_t key) { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20); }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
  std::unordered_map<std::string, int32_t> by_text_;  // "left\0right" for pairs not both tokens
};

}  // namespace kvforge::model::detail

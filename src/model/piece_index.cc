#include "model/piece_index.h"

#include <algorithm>

namespace kvforge::model::detail {

PieceIndex::PieceIndex(const std::vector<std::string>& tokens) : tokens_(&tokens) {
  size_t capacity = 16;
  while (capacity < 2 * tokens.size()) capacity *= 2;  // load <= 1/2 keeps probe runs short
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  for (size_t i = 0; i < tokens.size(); ++i) {
    insert(tokens[i], static_cast<int32_t>(i));
    max_piece_bytes_ = std::max(max_piece_bytes_, tokens[i].size());
  }
}

void PieceIndex::insert(std::string_view piece, int32_t id) {
  const uint32_t h = piece_hash(piece);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.id < 0) {
      slot = Slot{h, id};
      return;
    }
    if (slot.hash == h && (*tokens_)[static_cast<size_t>(slot.id)] == piece) {
      slot.id = id;
      return;
    }
  }
}

int32_t PieceIndex::find(std::string_view piece) const {
  if (piece.size() > max_piece_bytes_ || slots_.empty()) return -1;
  const uint32_t h = piece_hash(piece);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.id < 0) return -1;
    if (slot.hash == h && (*tokens_)[static_cast<size_t>(slot.id)] == piece) return slot.id;
  }
}

}  // namespace kvforge::model::detail

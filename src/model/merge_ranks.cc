#include "model/merge_ranks.h"

namespace kvforge::model::detail {

MergeRanks::MergeRanks(const std::vector<std::string>& merges, const PieceIndex& pieces) {
  size_t capacity = 16;
  while (capacity < 2 * merges.size()) capacity *= 2;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i];
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) continue;
    const std::string_view left = std::string_view(m).substr(0, space);
    const std::string_view right = std::string_view(m).substr(space + 1);
    const auto rank = static_cast<int32_t>(i);
    const int32_t l = pieces.find(left);
    const int32_t r = pieces.find(right);
    if (l < 0 || r < 0) {
      by_text_.emplace(std::string(left) + '\0' + std::string(right), rank);
      ++count_;
      continue;
    }
    const uint64_t key = key_of(l, r);
    for (size_t s = slot_of(key) & mask_;; s = (s + 1) & mask_) {
      if (slots_[s].key == key) break;  // repeated pair: the first rank stands
      if (slots_[s].key == kEmpty) {
        slots_[s] = Slot{key, rank};
        ++count_;
        break;
      }
    }
  }
}

int32_t MergeRanks::rank(int32_t left_id, std::string_view left, int32_t right_id, std::string_view right) const {
  if (left_id >= 0 && right_id >= 0) {  // such a pair is never in by_text_
    if (slots_.empty()) return -1;
    const uint64_t key = key_of(left_id, right_id);
    for (size_t s = slot_of(key) & mask_;; s = (s + 1) & mask_) {
      if (slots_[s].key == key) return slots_[s].rank;
      if (slots_[s].key == kEmpty) return -1;
    }
  }
  if (by_text_.empty()) return -1;
  std::string k;
  k.reserve(left.size() + right.size() + 1);
  k.append(left).append(1, '\0').append(right);
  auto it = by_text_.find(k);
  return it == by_text_.end() ? -1 : it->second;
}

}  // namespace kvforge::model::detail

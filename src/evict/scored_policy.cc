#include "evict/scored_policy.h"

#include <algorithm>
#include <string>

namespace kvforge::evict::detail {

Status PolicyBase::attach(const PolicyShape& shape) {
  if (shape.n_layers <= 0 || shape.n_heads <= 0 || shape.n_kv_heads <= 0 || shape.n_heads % shape.n_kv_heads != 0) {
    return Status::InvalidArgument("policy " + name_ + ": bad model shape (layers " + std::to_string(shape.n_layers) +
                                   ", heads " + std::to_string(shape.n_heads) + ", kv heads " +
                                   std::to_string(shape.n_kv_heads) + ")");
  }
  shape_ = shape;
  reset();
  return Status::OK();
}

Status PolicyBase::select_victims(int layer, int kv_head, const kv::KvHead& head, size_t keep, Phase phase,
                                  std::vector<int32_t>* victims) {
  const Protection p = protection(phase, keep);
  if (keep < p.total()) {
    return Status::InvalidArgument("policy " + name_ + " (" + phase_name(phase) + "): budget of " +
                                   std::to_string(keep) + " slots is below the " + std::to_string(p.total()) +
                                   " it protects (" + std::to_string(p.sinks) + " sinks + " +
                                   std::to_string(p.recent) + " recent)");
  }
  if (layer < 0 || layer >= shape_.n_layers || kv_head < 0 || kv_head >= shape_.n_kv_heads) {
    return Status::InvalidArgument("policy " + name_ + ": layer " + std::to_string(layer) + " / kv head " +
                                   std::to_string(kv_head) + " outside the attached shape");
  }
  if (head.size() <= keep) return Status::OK();
  choose(layer, kv_head, head, keep, head.size() - keep, phase, victims);
  return Status::OK();
}

std::span<const int32_t> PolicyBase::candidates(const kv::KvHead& head, Protection protection) {
  auto live = head.live_slots();
  if (protection.total() >= live.size()) return {};
  return live.subspan(protection.sinks, live.size() - protection.total());
}

RowHistory::Row& RowHistory::push() {
  if (rows_.size() < capacity_) rows_.resize(capacity_);
  Row& row = rows_[head_];
  head_ = (head_ + 1) % capacity_;
  if (size_ < capacity_) ++size_;
  return row;
}

void HeadState::ensure(int32_t slot) {
  const size_t need = static_cast<size_t>(slot) + 1;
  if (epoch.size() >= need) return;
  size_t n = std::max(need, epoch.size() * 2);
  for (auto& c : channels) c.resize(n, 0.0f);
  epoch.resize(n, 0);
}

Status ScoredPolicy::attach(const PolicyShape& shape) {
  states_.clear();
  KVF_RETURN_IF_ERROR(PolicyBase::attach(shape));
  return Status::OK();
}

void ScoredPolicy::reset() {
  const size_t n = static_cast<size_t>(shape().n_layers) * static_cast<size_t>(shape().n_kv_heads);
  states_.assign(n, HeadState{});
  for (auto& s : states_) {
    s.channels.assign(static_cast<size_t>(n_channels_), {});
    if (history_ > 0) s.history.set_capacity(history_);
  }
}

void ScoredPolicy::on_attention(int layer, int q_head, int kv_head, int32_t query_position,
                                std::span<const int32_t> slots, std::span<const float> probs) {
  HeadState& s = state(layer, kv_head);
  int32_t max_slot = -1;
  const int g = group();
  if (g == 1) {
    for (int32_t slot : slots) max_slot = std::max(max_slot, slot);
    if (max_slot >= 0) s.ensure(max_slot);
    observe(s, query_position, slots, probs);
    return;
  }
  // The group's heads arrive in order for the same query token and the same slots.
  const int member = q_head - kv_head * g;
  if (member == 0 || s.pending == 0 || s.avg.size() != probs.size()) {
    s.avg.assign(probs.begin(), probs.end());
    s.pending = 1;
  } else {
    for (size_t i = 0; i < probs.size(); ++i) s.avg[i] += probs[i];
    ++s.pending;
  }
  if (member != g - 1) return;
  const float inv = 1.0f / static_cast<float>(s.pending);
  for (float& x : s.avg) x *= inv;
  s.pending = 0;
  for (int32_t slot : slots) max_slot = std::max(max_slot, slot);
  if (max_slot >= 0) s.ensure(max_slot);
  observe(s, query_position, slots, s.avg);
}

void ScoredPolicy::on_evicted(int layer, int kv_head, std::span<const int32_t> slots) {
  HeadState& s = state(layer, kv_head);
  for (int32_t slot : slots) {
    if (slot < 0) continue;
    s.ensure(slot);
    forget(s, slot);
    for (auto& c : s.channels) c[static_cast<size_t>(slot)] = 0.0f;
    ++s.epoch[static_cast<size_t>(slot)];
  }
}

void ScoredPolicy::choose(int layer, int kv_head, const kv::KvHead& head, size_t keep, size_t m, Phase phase,
                          std::vector<int32_t>* victims) {
  HeadState& s = state(layer, kv_head);
  auto cands = candidates(head, protection(phase, keep));
  pick_lowest(cands, m, [&](uint32_t i) { return s.get(0, cands[i]); }, &s.order, victims);
}

}  // namespace kvforge::evict::detail

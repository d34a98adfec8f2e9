// Private to kvf_evict: what every policy shares.
//  - PolicyBase: name, stride, the keep >= min_keep check and the "nothing to
//    do" early return of select_victims, protection spans (sinks + recent).
//  - ScoredPolicy: per (layer, kv head) statistics indexed by slot id, fed by
//    the GQA group's attention rows averaged into one row per kv head, cleared
//    when a slot is evicted (its id will be reused).
//  - RowHistory: the last W averaged rows of one kv head (scissorhands' history
//    window, snapkv's observation window), with per-slot epochs so that rows
//    naming a slot's previous occupant are recognised and skipped.
//  - pick_lowest: the m lowest-scored candidates, ties to the older slot.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "kvforge/evict/policy.h"

namespace kvforge::evict::detail {

// Slots protected from eviction: the `sinks` lowest positions and the `recent`
// highest ones (each head's live list is in position order).
struct Protection {
  size_t sinks = 0;
  size_t recent = 0;
  size_t total() const { return sinks + recent; }
};

class PolicyBase : public Policy {
 public:
  PolicyBase(std::string name, int stride) : name_(std::move(name)), stride_(stride) {}

  Status attach(const PolicyShape& shape) override;
  void reset() override {}
  void on_attention(int, int, int, int32_t, std::span<const int32_t>, std::span<const float>) override {}
  void on_evicted(int, int, std::span<const int32_t>) override {}
  size_t min_keep(Phase phase, size_t keep) const override { return protection(phase, keep).total(); }
  std::string name() const override { return name_; }
  int stride() const override { return stride_; }

  // Checks keep >= min_keep (InvalidArgument naming both), returns when
  // head.size() <= keep, else calls choose() for m = size - keep victims.
  Status select_victims(int layer, int kv_head, const kv::KvHead& head, size_t keep, Phase phase,
                        std::vector<int32_t>* victims) override;

  // What the policy protects when asked to keep `keep` slots.
  virtual Protection protection(Phase phase, size_t keep) const = 0;

 protected:
  // Appends exactly m victims (m >= 1, m <= size - protection.total()).
  virtual void choose(int layer, int kv_head, const kv::KvHead& head, size_t keep, size_t m, Phase phase,
                      std::vector<int32_t>* victims) = 0;

  // Live slots outside the protection, in position order.
  static std::span<const int32_t> candidates(const kv::KvHead& head, Protection protection);

  const PolicyShape& shape() const { return shape_; }
  int group() const { return shape_.n_kv_heads > 0 ? shape_.n_heads / shape_.n_kv_heads : 1; }
  size_t head_index(int layer, int kv_head) const {
    return static_cast<size_t>(layer) * static_cast<size_t>(shape_.n_kv_heads) + static_cast<size_t>(kv_head);
  }

 private:
  std::string name_;
  int stride_;
  PolicyShape shape_;
};

// Appends to *victims the m candidates with the lowest score(i) (i indexes
// `cands`, which is in position order); ties go to the lower index, i.e. the
// older token. Deterministic. `scratch` is reused between calls.
template <typename ScoreFn>
void pick_lowest(std::span<const int32_t> cands, size_t m, ScoreFn score,
                 std::vector<std::pair<float, uint32_t>>* scratch, std::vector<int32_t>* victims);

// The last `capacity` averaged rows of one kv head.
class RowHistory {
 public:
  struct Row {
    int32_t query_position = 0;
    std::vector<int32_t> slots;
    std::vector<float> values;
    std::vector<uint32_t> epochs;  // epoch of each slot when the row arrived
  };
  void set_capacity(size_t capacity) { capacity_ = capacity; clear(); }
  size_t capacity() const { return capacity_; }
  size_t size() const { return size_; }
  void clear() { size_ = 0; head_ = 0; }
  // The row to fill next; if the history is full it is the oldest row, which
  // the caller must retire first (see oldest_if_full()).
  Row& push();
  // The row push() will overwrite, or nullptr while there is room.
  const Row* oldest_if_full() const { return size_ == capacity_ && capacity_ > 0 ? &rows_[head_] : nullptr; }
  // i = 0 is the oldest row held.
  const Row& at(size_t i) const { return rows_[(head_ + capacity_ - size_ + i) % capacity_]; }

 private:
  std::vector<Row> rows_;
  size_t capacity_ = 0;
  size_t size_ = 0;
  size_t head_ = 0;  // index of the next row to write
};

// Statistics of one (layer, kv head).
struct HeadState {
  // Channels of per-slot statistics, indexed by slot id; zero for a slot
  // never observed or cleared by eviction.
  std::vector<std::vector<float>> channels;
  // Bumped when a slot is evicted; RowHistory entries carry the epoch they saw.
  std::vector<uint32_t> epoch;
  RowHistory history;
  // Group averaging of the current query token.
  std::vector<float> avg;
  int pending = 0;
  // Policy-specific flags (snapkv: a frozen snapshot exists / decoding started).
  bool has_snapshot = false;
  bool frozen = false;
  // Selection scratch.
  std::vector<std::pair<float, uint32_t>> order;
  std::vector<float> scratch;
  std::vector<int32_t> picked;

  float& at(int channel, int32_t slot) { return channels[static_cast<size_t>(channel)][static_cast<size_t>(slot)]; }
  float get(int channel, int32_t slot) const {
    const auto& c = channels[static_cast<size_t>(channel)];
    return static_cast<size_t>(slot) < c.size() ? c[static_cast<size_t>(slot)] : 0.0f;
  }
  uint32_t epoch_of(int32_t slot) const {
    return static_cast<size_t>(slot) < epoch.size() ? epoch[static_cast<size_t>(slot)] : 0u;
  }
  // Grows every per-slot vector to hold `slot`.
  void ensure(int32_t slot);
};

class ScoredPolicy : public PolicyBase {
 public:
  ScoredPolicy(std::string name, int stride, int n_channels, size_t history = 0)
      : PolicyBase(std::move(name), stride), n_channels_(n_channels), history_(history) {}

  Status attach(const PolicyShape& shape) override;
  void reset() override;
  // Averages the group's rows (they arrive consecutively for one query token)
  // and hands the average to observe(). Only touches this kv head's state.
  void on_attention(int layer, int q_head, int kv_head, int32_t query_position, std::span<const int32_t> slots,
                    std::span<const float> probs) final;
  // Zeroes the slots' channels, bumps their epochs, and calls forget().
  void on_evicted(int layer, int kv_head, std::span<const int32_t> slots) final;

  // Tests and tools: the statistics of one slot.
  float stat(int layer, int kv_head, int channel, int32_t slot) const {
    return states_[head_index(layer, kv_head)].get(channel, slot);
  }

 protected:
  // One group-averaged attention row; every slot of `slots` is ensure()d.
  virtual void observe(HeadState& state, int32_t query_position, std::span<const int32_t> slots,
                       std::span<const float> probs) = 0;
  // Extra per-slot cleanup before the slot's epoch is bumped (default none).
  virtual void forget(HeadState& /*state*/, int32_t /*slot*/) {}
  // Default choice: the m lowest values of channel 0 outside protection(),
  // ties to the older slot (h2o, tova, scissorhands).
  void choose(int layer, int kv_head, const kv::KvHead& head, size_t keep, size_t m, Phase phase,
              std::vector<int32_t>* victims) override;

  HeadState& state(int layer, int kv_head) { return states_[head_index(layer, kv_head)]; }

 private:
  int n_channels_;
  size_t history_;
  std::vector<HeadState> states_;
};

// ---- template implementation ----

template <typename ScoreFn>
void pick_lowest(std::span<const int32_t> cands, size_t m, ScoreFn score,
                 std::vector<std::pair<float, uint32_t>>* scratch, std::vector<int32_t>* victims) {
  if (m == 0) return;
  if (m >= cands.size()) {
    victims->insert(victims->end(), cands.begin(), cands.end());
    return;
  }
  auto& order = *scratch;
  order.clear();
  order.reserve(cands.size());
  for (uint32_t i = 0; i < cands.size(); ++i) order.emplace_back(score(i), i);
  // (score, index) pairs are totally ordered, so the m smallest are unique.
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(m) - 1, order.end());
  for (size_t i = 0; i < m; ++i) victims->push_back(cands[order[i].second]);
}

}  // namespace kvforge::evict::detail

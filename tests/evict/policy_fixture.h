// A policy on one (layer, kv head) fed hand-made attention rows. Shape: 1
// layer, 2 query heads, 1 kv head (GQA group of 2) unless said otherwise.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "evict/scored_policy.h"
#include "kvforge/evict/registry.h"

namespace kvforge::evict::testing {

using Row = std::vector<float>;

struct Fixture {
  std::unique_ptr<Policy> policy;
  kv::KvHead head{1};
  std::vector<int32_t> slot_of;  // position -> slot

  explicit Fixture(const std::string& description, int n_tokens, PolicyShape shape = {1, 2, 1}) {
    auto p = make_policy(description);
    EXPECT_TRUE(p.ok()) << p.status().to_string();
    policy = std::move(p).value();
    EXPECT_TRUE(policy->attach(shape).ok());
    for (int t = 0; t < n_tokens; ++t) append(t);
  }
  int32_t append(int32_t position) {
    const float x = static_cast<float>(position);
    const int32_t slot = head.append(position, &x, &x);
    if (static_cast<size_t>(position) >= slot_of.size()) slot_of.resize(static_cast<size_t>(position) + 1, -1);
    slot_of[static_cast<size_t>(position)] = slot;
    return slot;
  }
  // One query token: rows[g] is query head g's softmax over the live slots (position order).
  void query(int32_t query_position, const std::vector<Row>& rows) {
    std::vector<int32_t> slots(head.live_slots().begin(), head.live_slots().end());
    for (size_t g = 0; g < rows.size(); ++g) {
      ASSERT_EQ(rows[g].size(), slots.size());
      policy->on_attention(0, static_cast<int>(g), 0, query_position, slots, rows[g]);
    }
  }
  // Victims as positions, sorted.
  std::vector<int32_t> victims(size_t keep, Phase phase, Status* status = nullptr) {
    std::vector<int32_t> v;
    Status st = policy->select_victims(0, 0, head, keep, phase, &v);
    if (status) *status = st;
    EXPECT_TRUE(status != nullptr || st.ok()) << st.to_string();
    std::set<int32_t> unique(v.begin(), v.end());
    EXPECT_EQ(unique.size(), v.size()) << "duplicate victims";
    std::vector<int32_t> pos;
    for (int32_t s : v) {
      EXPECT_TRUE(head.is_live(s));
      pos.push_back(head.position(s));
    }
    std::sort(pos.begin(), pos.end());
    return pos;
  }
  void evict_positions(const std::vector<int32_t>& positions) {
    std::vector<int32_t> slots;
    for (int32_t p : positions) slots.push_back(slot_of[static_cast<size_t>(p)]);
    ASSERT_TRUE(head.remove(slots).ok());
    policy->on_evicted(0, 0, slots);
  }
  const detail::ScoredPolicy& scored() const { return dynamic_cast<const detail::ScoredPolicy&>(*policy); }
  float stat(int channel, int32_t position) const {
    return scored().stat(0, 0, channel, slot_of[static_cast<size_t>(position)]);
  }
};

using V = std::vector<int32_t>;

}  // namespace kvforge::evict::testing

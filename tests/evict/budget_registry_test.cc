#include <gtest/gtest.h>

#include "kvforge/evict/budget.h"
#include "kvforge/evict/registry.h"

namespace kvforge::evict {
namespace {

TEST(Budget, ParsesFractionsPercentsAndCounts) {
  auto a = Budget::parse("0.2");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->is_fraction());
  EXPECT_DOUBLE_EQ(a->value(), 0.2);
  EXPECT_EQ(a->slots(200), 40u);
  EXPECT_EQ(a->to_string(), "0.2");

  auto b = Budget::parse("20%");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->is_fraction());
  EXPECT_DOUBLE_EQ(b->value(), 0.2);

  auto c = Budget::parse("128");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->is_fraction());
  EXPECT_EQ(c->slots(10), 128u);
  EXPECT_EQ(c->slots(100000), 128u);
  EXPECT_EQ(c->to_string(), "128");

  // "1" is the fraction 1.0 (keep everything), not one slot.
  auto one = Budget::parse("1");
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one->is_fraction());
  EXPECT_EQ(one->slots(300), 300u);
  auto hundred = Budget::parse("100%");
  ASSERT_TRUE(hundred.ok());
  EXPECT_EQ(hundred->slots(7), 7u);
  // "2.0" has a decimal point: a fraction, hence out of range.
  EXPECT_TRUE(Budget::parse("2.0").status().is_invalid_argument());
}

TEST(Budget, SlotsRoundAndKeepAtLeastOne) {
  EXPECT_EQ(Budget::fraction(0.25)->slots(10), 3u);   // 2.5 -> 3 (round half away from zero)
  EXPECT_EQ(Budget::fraction(0.24)->slots(10), 2u);   // 2.4 -> 2
  EXPECT_EQ(Budget::fraction(0.001)->slots(10), 1u);  // 0.01 -> at least 1
  EXPECT_EQ(Budget::count(5)->slots(1), 5u);
}

TEST(Budget, RejectsOutOfRangeAndGarbageNamingTheValue) {
  for (const char* bad : {"0", "0.0", "-0.5", "1.5", "150%", "0%", "-3", "abc", "", "0.2x", "nan", "inf"}) {
    auto r = Budget::parse(bad);
    EXPECT_TRUE(r.status().is_invalid_argument()) << bad;
  }
  auto r = Budget::parse("1.5");
  EXPECT_NE(r.status().message().find("1.5"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("(0, 1]"), std::string::npos) << r.status().message();
  EXPECT_TRUE(Budget::fraction(0).status().is_invalid_argument());
  EXPECT_TRUE(Budget::fraction(1.01).status().is_invalid_argument());
  EXPECT_TRUE(Budget::count(0).status().is_invalid_argument());
}

TEST(Registry, NamesInStableOrder) {
  EXPECT_EQ(policy_names(), (std::vector<std::string>{"full", "random", "streaming", "h2o", "scissorhands", "tova",
                                                      "snapkv", "roco"}));
  for (const auto& name : policy_names()) {
    auto p = make_policy(name);
    ASSERT_TRUE(p.ok()) << name << ": " << p.status().to_string();
    EXPECT_EQ((*p)->name(), name);
  }
}

TEST(Registry, ParametersAreApplied) {
  auto p = make_policy("roco:stride=16");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ((*p)->stride(), 16);
  EXPECT_EQ((*make_policy("roco"))->stride(), 8);
  EXPECT_EQ((*make_policy("streaming:sinks=2"))->min_keep(Phase::kDecode, 50), 2u);
  EXPECT_EQ((*make_policy("snapkv:window=48,kernel=7,pool=max"))->min_keep(Phase::kPrefill, 100), 48u);
  EXPECT_EQ((*make_policy("roco:recent=6,sinks=2"))->min_keep(Phase::kPrefill, 100), 8u);
  EXPECT_TRUE(make_policy("random:seed=3").ok());
}

TEST(Registry, UnknownNameListsPolicies) {
  auto p = make_policy("lru");
  ASSERT_TRUE(p.status().is_invalid_argument());
  for (const auto& name : policy_names()) EXPECT_NE(p.status().message().find(name), std::string::npos);
  EXPECT_NE(p.status().message().find("lru"), std::string::npos);
}

TEST(Registry, UnknownKeyListsThePolicysKeys) {
  auto p = make_policy("roco:strid=8");
  ASSERT_TRUE(p.status().is_invalid_argument());
  const std::string& m = p.status().message();
  EXPECT_NE(m.find("strid"), std::string::npos) << m;
  for (const char* key : {"stride", "sinks", "recent", "prefill_ratio", "decode_ratio"}) {
    EXPECT_NE(m.find(key), std::string::npos) << key << " in " << m;
  }
  EXPECT_TRUE(make_policy("full:stride=8").status().is_invalid_argument());
}

TEST(Registry, BadValues) {
  for (const char* bad : {"roco:stride=0", "roco:stride=abc", "roco:stride=", "roco:stride", "roco:stride=8,stride=4",
                          "snapkv:kernel=4", "snapkv:pool=median", "h2o:recent_ratio=1.5", "random:seed=-1",
                          "roco:", "tova:sinks=2.5"}) {
    auto p = make_policy(bad);
    EXPECT_TRUE(p.status().is_invalid_argument()) << bad;
  }
  auto p = make_policy("roco:stride=abc");
  EXPECT_NE(p.status().message().find("abc"), std::string::npos) << p.status().message();
}

}  // namespace
}  // namespace kvforge::evict

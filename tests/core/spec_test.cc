// core::Spec and core::Registry: the one grammar every selectable thing is named by.
#include "kvforge/core/spec.h"

#include <gtest/gtest.h>

#include <memory>

#include "kvforge/core/registry.h"

namespace kvforge::core {
namespace {

TEST(Spec, NameAloneAndKeyValues) {
  auto s = Spec::parse("roco", "policy");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->name(), "roco");
  EXPECT_EQ(*s->get_int("stride", 8, 1, 100), 8);
  EXPECT_TRUE(s->finish().ok());

  auto t = Spec::parse("snapkv:window=48,pool=max,ratio=0.25", "policy");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->get_int("window", 32, 1, 100), 48);
  EXPECT_EQ(*t->get_choice("pool", "avg", {"avg", "max"}), "max");
  EXPECT_DOUBLE_EQ(*t->get_double("ratio", 0.5, 0, 1), 0.25);
  EXPECT_TRUE(t->finish().ok());
}

TEST(Spec, PositionalShorthandOnlyWhereDeclared) {
  auto with = Spec::parse("cachegen:3", "codec", "level");
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(*with->get_string("level", "2"), "3");
  const Status without = Spec::parse("roco:3", "policy").status();
  EXPECT_TRUE(without.is_invalid_argument());
  EXPECT_EQ(without.message(), "policy 'roco:3': '3' is not key=value");
  // The shorthand and the key name the same key, so both together are a duplicate.
  EXPECT_NE(Spec::parse("cachegen:3,level=4", "codec", "level").status().message().find("'level' given twice"),
            std::string::npos);
}

TEST(Spec, MalformedTextIsRefusedWithTheWholeSpecQuoted) {
  for (const char* bad : {"", ":x=1", "roco:", "roco:stride=8,", "roco:=8", "roco:stride=8,stride=9"}) {
    const Status s = Spec::parse(bad, "policy").status();
    EXPECT_TRUE(s.is_invalid_argument()) << bad;
    EXPECT_EQ(s.message().rfind("policy '" + std::string(bad) + "': ", 0), 0u) << s.message();
  }
}

TEST(Spec, ValuesOutOfRangeOrOfTheWrongKind) {
  auto s = Spec::parse("x:a=abc,b=7,c=nan,d=maybe,e=12q,f=64m", "thing");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->get_int("a", 0, 0, 10).status().message(),
            "thing 'x:a=abc,b=7,c=nan,d=maybe,e=12q,f=64m': a=abc is not an integer in [0, 10]");
  EXPECT_TRUE(s->get_int("b", 0, 0, 5).status().is_invalid_argument());
  EXPECT_TRUE(s->get_double("c", 0, 0, 1).status().is_invalid_argument());
  EXPECT_NE(s->get_choice("d", "no", {"yes", "no"}).status().message().find("(valid: yes, no)"), std::string::npos);
  EXPECT_TRUE(s->get_bytes("e", 0).status().is_invalid_argument());
  EXPECT_EQ(*s->get_bytes("f", 0), 64ull << 20);
  EXPECT_TRUE(s->finish().ok());  // every key was asked for, even the bad ones
}

TEST(Spec, FinishNamesTheUnknownKeyAndTheValidOnes) {
  auto s = Spec::parse("roco:strid=8", "policy");
  ASSERT_TRUE(s.ok());
  (void)s->get_int("stride", 8, 1, 100);
  (void)s->get_int("sinks", 4, 0, 100);
  EXPECT_EQ(s->finish().message(), "policy 'roco:strid=8': roco has no key 'strid' (valid: stride, sinks)");
}

TEST(Spec, FromPairsRejectsDuplicates) {
  EXPECT_TRUE(Spec::from_pairs("mem://?capacity=1&capacity=2", "store", "mem", {{"capacity", "1"}, {"capacity", "2"}})
                  .status()
                  .is_invalid_argument());
  auto ok = Spec::from_pairs("mem://?capacity=1k", "store", "mem", {{"capacity", "1k"}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok->get_bytes("capacity", 0), 1024u);
}

Result<std::unique_ptr<int>> make_seven(Spec& spec) {
  KVF_ASSIGN_OR_RETURN(const int64_t add, spec.get_int("add", 0, 0, 10));
  return std::make_unique<int>(7 + static_cast<int>(add));
}

TEST(Registry, BuildsByNameListsNamesAndRejectsUnreadKeys) {
  const Registry<std::unique_ptr<int>> reg("number", {{.name = "seven", .positional_key = "add", .make = make_seven}});
  EXPECT_EQ(reg.names(), std::vector<std::string>{"seven"});
  EXPECT_EQ(**reg.make("seven"), 7);
  EXPECT_EQ(**reg.make("seven:2"), 9);
  EXPECT_EQ(**reg.make("seven:add=3"), 10);
  EXPECT_EQ(reg.make("eight").status().message(), "number 'eight': unknown number 'eight' (valid: seven)");
  EXPECT_EQ(reg.make("seven:sub=1").status().message(), "number 'seven:sub=1': seven has no key 'sub' (valid: add)");
}

}  // namespace
}  // namespace kvforge::core

// Every selectable thing (codec, eviction policy, bandwidth trace, store URL
// parameters, retrieval settings) answers the same mistake the same way, because
// all of them parse through core::Spec.
#include <gtest/gtest.h>

#include <functional>

#include "kvforge/codec/codec.h"
#include "kvforge/evict/registry.h"
#include "kvforge/pq/retrieval.h"
#include "kvforge/store/registry.h"
#include "kvforge/stream/bandwidth_trace.h"

namespace kvforge {
namespace {

struct Kind {
  std::string what;  // the message prefix
  std::string good;  // a valid spec with one key
  std::function<Status(const std::string&)> make;
  std::string sep = ",";  // between items ('&' in URLs)
};

std::vector<Kind> kinds() {
  return {
      {"codec", "kivi2:residual=8", [](const std::string& s) { return codec::make_codec(s).status(); }},
      {"policy", "roco:stride=8", [](const std::string& s) { return evict::make_policy(s).status(); }},
      {"trace", "const:mbps=100", [](const std::string& s) { return stream::make_trace(s).status(); }},
      {"retrieval spec", "0.2:m=2", [](const std::string& s) { return pq::parse_retrieval_spec(s).status(); }},
      {"store", "mem://?capacity=1m", [](const std::string& s) { return store::open_backend(s).status(); }, "&"},
  };
}

TEST(Registries, AcceptTheirGoodSpec) {
  for (const Kind& k : kinds()) EXPECT_TRUE(k.make(k.good).ok()) << k.what << ": " << k.make(k.good).to_string();
}

TEST(Registries, DuplicateKeyIsRefusedAlikeEverywhere) {
  for (const Kind& k : kinds()) {
    const std::string key = k.good.substr(k.good.find_last_of(":?") + 1);
    const std::string spec = k.good + k.sep + key;
    const Status s = k.make(spec);
    EXPECT_TRUE(s.is_invalid_argument()) << spec;
    EXPECT_EQ(s.message(), k.what + " '" + spec + "': '" + key.substr(0, key.find('=')) + "' given twice") << spec;
  }
}

TEST(Registries, UnknownKeyIsRefusedAlikeEverywhere) {
  for (const Kind& k : kinds()) {
    const std::string spec = k.good + k.sep + "bogus=1";
    const Status s = k.make(spec);
    EXPECT_TRUE(s.is_invalid_argument()) << spec;
    EXPECT_EQ(s.message().rfind(k.what + " '" + spec + "': ", 0), 0u) << s.message();
    EXPECT_NE(s.message().find("has no key 'bogus' (valid: "), std::string::npos) << s.message();
  }
}

TEST(Registries, BareValueIsAShorthandOnlyForAPositionalKey) {
  EXPECT_EQ((*codec::make_codec("cachegen:3"))->spec(), "cachegen:level=3");
  EXPECT_EQ((*codec::make_codec("zstd:9"))->spec(), (*codec::make_codec("zstd:level=9"))->spec());
  for (const Kind& k : kinds()) {
    const size_t at = k.good.find_last_of(":?");
    const std::string spec = k.good.substr(0, at + 1) + "3";
    const Status s = k.make(spec);
    EXPECT_TRUE(s.is_invalid_argument()) << spec;
    EXPECT_EQ(s.message(), k.what + " '" + spec + "': '3' is not key=value") << spec;
  }
}

TEST(Registries, UnknownNameListsTheValidOnes) {
  EXPECT_NE(codec::make_codec("cachegem").status().message().find("(valid: fp16, q8"), std::string::npos);
  EXPECT_NE(evict::make_policy("lru").status().message().find("(valid: full, random"), std::string::npos);
  EXPECT_NE(stream::make_trace("nope").status().message().find("(valid: const, step, random)"), std::string::npos);
  EXPECT_NE(store::open_backend("s3://x").status().message().find("(valid: file, mem, redis)"), std::string::npos);
}

}  // namespace
}  // namespace kvforge

// kvforge store as a user runs it on stories260K: put a context, list it, get a
// chunk (and decode one level of it), damage one, remove one; bad URLs and keys.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_runner.h"
#include "temp_dir.h"

namespace {

using kvforge::testing::CliRun;
using kvforge::testing::llama2c_flags;
using kvforge::testing::run;
using kvforge::testing::shared;

std::string context_file(const kvforge::testing::TempDir& dir) {
  const auto lines = kvforge::testing::lines(shared("data/tinystories-valid-first1000.txt"));
  std::string text;
  for (int i = 0; i < 3; ++i) text += lines[i] + " ";
  return dir.write("ctx.txt", std::vector<uint8_t>(text.begin(), text.end()));
}

nlohmann::json rows(const std::string& json_path) {
  std::ifstream in(json_path);
  return nlohmann::json::parse(in)["rows"];
}

TEST(CliStore, PutListGetRemove) {
  kvforge::testing::TempDir dir;
  const std::string url = "file://" + dir.path() + "/store";
  const std::string put_json = dir.path() + "/put.json", ls_json = dir.path() + "/ls.json";
  CliRun r = run("store put --store " + url + " " + llama2c_flags() + " --text " + context_file(dir) +
                 " --levels q8 cachegen:level=3 --chunk-tokens 64 --json " + put_json);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto put = rows(put_json);
  ASSERT_GE(put.size(), 2u);
  EXPECT_EQ(put[0]["levels"], "q8 cachegen:level=3");
  EXPECT_EQ(put[0]["tokens"], 64);

  r = run("store ls --store " + url + " --json " + ls_json);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto ls = rows(ls_json);
  ASSERT_EQ(ls.size(), put.size());
  for (const char* field : {"key", "bytes", "tokens", "levels", "last_use"}) {
    EXPECT_TRUE(ls[0].contains(field)) << field;
    EXPECT_NE(r.out.find(field), std::string::npos) << field;
  }
  std::set<std::string> put_keys, ls_keys;
  for (const auto& row : put) put_keys.insert(row["key"].get<std::string>());
  for (const auto& row : ls) ls_keys.insert(row["key"].get<std::string>());
  EXPECT_EQ(put_keys, ls_keys);
  // The same context again gives the same keys (in another process).
  const std::string again_json = dir.path() + "/again.json";
  ASSERT_EQ(run("store put --store " + url + " " + llama2c_flags() + " --text " + context_file(dir) +
                " --levels q8 --chunk-tokens 64 --json " + again_json).code, 0);
  EXPECT_EQ(rows(again_json)[1]["key"], put[1]["key"]);

  const std::string key = put[1]["key"];
  const std::string container = dir.path() + "/chunk.kvs", frame = dir.path() + "/chunk.kvf";
  r = run("store get --store " + url + " --key " + key + " -o " + container);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(kvforge::testing::slurp(container).substr(0, 4), "\x89KVS");
  r = run("store get --store " + url + " --key " + key + " --level q8 -o " + frame);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("decode " + frame + " " + llama2c_flags());
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("store get --store " + url + " --key " + key + " --level cachegen:level=1 -o " + frame);
  EXPECT_EQ(r.code, 1);  // never stored at that level
  EXPECT_NE(r.err.find("no level"), std::string::npos) << r.err;

  r = run("store rm --store " + url + " --key " + key);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("store get --store " + url + " --key " + key);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Not found"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(key), std::string::npos) << r.err;
  r = run("store rm --store " + url + " --key " + key);
  EXPECT_EQ(r.code, 1);
  ASSERT_EQ(run("store ls --store " + url + " --json " + ls_json).code, 0);
  EXPECT_EQ(rows(ls_json).size(), put.size() - 1);
}

TEST(CliStore, DamagedChunkIsReportedAsCorruptionNamingItsKey) {
  kvforge::testing::TempDir dir;
  const std::string store_dir = dir.path() + "/store", url = "file://" + store_dir, json = dir.path() + "/put.json";
  ASSERT_EQ(run("store put --store " + url + " " + llama2c_flags() + " --text " + context_file(dir) +
                " --levels q8 --chunk-tokens 128 --json " + json).code, 0);
  const std::string key = rows(json)[0]["key"];
  const std::string path = store_dir + "/" + key + ".kvc";
  std::string bytes = kvforge::testing::slurp(path);
  bytes[bytes.size() / 3] ^= 0x01;
  std::ofstream(path, std::ios::binary) << bytes;
  CliRun r = run("store get --store " + url + " --key " + key);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Corruption"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(key), std::string::npos) << r.err;
  r = run("store ls --store " + url);
  EXPECT_EQ(r.code, 0) << r.err;  // the listing goes on and says which one is damaged
  EXPECT_NE(r.err.find(key), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("(unreadable)"), std::string::npos) << r.out;
  // fsck removes it; the listing is clean afterwards.
  const std::string fsck_json = dir.path() + "/fsck.json";
  r = run("store fsck --store " + url + " --json " + fsck_json);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = rows(fsck_json);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0]["damaged_removed"], 1);
  for (const char* field : {"store", "chunks", "entries_dropped", "entries_fixed", "bytes_before", "bytes_after"}) {
    EXPECT_TRUE(report[0].contains(field)) << field;
  }
  r = run("store ls --store " + url);
  EXPECT_EQ(r.out.find("(unreadable)"), std::string::npos) << r.out;
}

TEST(CliStore, BadUrlsAndKeysAreRefused) {
  CliRun r = run("store ls --store nope://where");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Invalid argument"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nope://where"), std::string::npos) << r.err;
  r = run("store get --store mem:// --key xyz");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("'xyz'"), std::string::npos) << r.err;
  r = run("store get --store mem:// --key 0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Not found"), std::string::npos) << r.err;
}

}  // namespace

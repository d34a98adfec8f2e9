// kvforge's codec commands as a user runs them: a context encoded, stored,
// verified, damaged; a profile learned; the eval and bench tables.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "temp_dir.h"

namespace {

using kvforge::testing::CliRun;
using kvforge::testing::llama2c_flags;
using kvforge::testing::run;
using kvforge::testing::shared;

std::string context_file(const kvforge::testing::TempDir& dir) {
  const std::string text = kvforge::testing::lines(shared("data/tinystories-valid-first1000.txt"))[3];
  return dir.write("ctx.txt", std::vector<uint8_t>(text.begin(), text.end()));
}

TEST(CliCodec, EncodeDecodeRoundTripAndModelCheck) {
  kvforge::testing::TempDir dir;
  const std::string ctx = context_file(dir), out = dir.path() + "/ctx.kvf", json = dir.path() + "/enc.json";
  CliRun r = run("encode " + llama2c_flags() + " --text " + ctx + " --codec q8 --chunk-tokens 64 -o " + out +
                 " --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto row = nlohmann::json::parse(in)["rows"][0];
  EXPECT_GT(row["frames"].get<int>(), 1);
  EXPECT_GT(row["ratio_vs_fp16"].get<double>(), 1.5);  // 8-bit with scales vs 16-bit
  r = run("decode " + out + " " + llama2c_flags());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("frames verified"), std::string::npos);
  // KV of one model is refused by another.
  r = run("decode " + out + " --model " + kvforge::testing::model_dir() + "stories260K-q8_0.gguf");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("fingerprint"), std::string::npos) << r.err;
}

TEST(CliCodec, DamagedAndTruncatedFilesAreReported) {
  kvforge::testing::TempDir dir;
  const std::string ctx = context_file(dir), out = dir.path() + "/ctx.kvf";
  ASSERT_EQ(run("encode " + llama2c_flags() + " --text " + ctx + " --codec cachegen:level=3 -o " + out).code, 0);
  std::string bytes = kvforge::testing::slurp(out);
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x10;
  const std::string bad = dir.write("bad.kvf", std::vector<uint8_t>(flipped.begin(), flipped.end()));
  CliRun r = run("decode " + bad);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Corruption"), std::string::npos) << r.err;
  const std::string cut = dir.write("cut.kvf", std::vector<uint8_t>(bytes.begin(), bytes.end() - 100));
  r = run("decode " + cut);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Corruption"), std::string::npos) << r.err;
}

TEST(CliCodec, ProfileMakesCachegenFramesSmaller) {
  kvforge::testing::TempDir dir;
  const std::string ctx = context_file(dir), prof = dir.path() + "/m.kvprof";
  CliRun r = run("profile " + llama2c_flags() + " --text " + shared("data/stories260K-samples.txt") +
                 " --limit 20 -o " + prof);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string a = dir.path() + "/a.kvf", b = dir.path() + "/b.kvf";
  ASSERT_EQ(run("encode " + llama2c_flags() + " --text " + ctx + " --codec cachegen:level=3 -o " + a).code, 0);
  ASSERT_EQ(run("encode " + llama2c_flags() + " --text " + ctx + " --codec cachegen:level=3 --profile " + prof +
                " -o " + b).code, 0);
  EXPECT_LT(std::filesystem::file_size(b), std::filesystem::file_size(a));
  EXPECT_EQ(run("decode " + b).code, 1);  // the profile is needed to decode
  EXPECT_EQ(run("decode " + b + " --profile " + prof).code, 0);
}

TEST(CliCodec, EvalCodecRowsHaveTheIssueFields) {
  kvforge::testing::TempDir dir;
  const std::string json = dir.path() + "/codec.json";
  CliRun r = run("eval codec " + llama2c_flags() + " --text " + shared("data/tinystories-valid-first1000.txt") +
                 " --limit 6 --codecs fp16,cachegen-ref,cachegen:level=3 --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto rows = nlohmann::json::parse(in)["rows"];
  ASSERT_EQ(rows.size(), 4u);  // q8 joins as the ratio's yardstick
  for (const auto& row : rows) {
    for (const char* f : {"codec", "level", "bytes_per_token", "ratio_vs_fp16", "ratio_vs_q8", "encode_mbps",
                          "decode_mbps", "delta_ppl_pct", "kl", "top1_agreement"}) {
      EXPECT_TRUE(row.contains(f)) << f;
    }
  }
  EXPECT_NEAR(rows[0]["kl"].get<double>(), 0.0, 1e-5);      // fp16 is (nearly) exact
  EXPECT_GT(rows[1]["kl"].get<double>(), rows[0]["kl"].get<double>());
  EXPECT_NEAR(rows[3]["ratio_vs_q8"].get<double>(), 1.0, 1e-12);
}

TEST(CliCodec, BenchCodecReportsPerCoreSpeeds) {
  kvforge::testing::TempDir dir;
  const std::string json = dir.path() + "/bench.json";
  CliRun r = run("bench codec --synthetic dim=128,hidden=256,layers=2,heads=4,kv_heads=2,vocab=500,ctx=1024 "
                 "--tokens 300 --codecs q8,zstd,cachegen:level=2+profile -r 1 --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto rows = nlohmann::json::parse(in)["rows"];
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    EXPECT_GT(row["decode_gbps_per_core"].get<double>(), 0.0);
    EXPECT_GT(row["encode_gbps_per_core"].get<double>(), 0.0);
  }
}

}  // namespace

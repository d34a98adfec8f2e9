// kvforge's retrieval-attention (PQCache) commands as a user runs them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_runner.h"

namespace {

using kvforge::testing::CliRun;
using kvforge::testing::llama2c_flags;
using kvforge::testing::run;

TEST(CliPq, GenerateWithRetrievalKeepsThePromptAndReportsRetrievals) {
  CliRun r = run("generate " + llama2c_flags() + " --prompt 'Once upon a time' -n 150 --temp 0 --pq 0.2:sinks=4");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time", 0), 0u);
  EXPECT_NE(r.err.find("pq: "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("pq: 0 retrievals"), std::string::npos) << r.err;
}

TEST(CliPq, BadParametersAreRefusedClearly) {
  CliRun r = run("generate " + llama2c_flags() + " --prompt hi -n 50 --pq 1.5");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("ratio"), std::string::npos) << r.err;
  r = run("generate " + llama2c_flags() + " --prompt hi -n 50 --pq 0.2:bits=5");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("bits=5"), std::string::npos) << r.err;
  r = run("generate " + llama2c_flags() + " --prompt hi -n 50 --pq 0.2:m=3");  // head_dim is 8
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("divide"), std::string::npos) << r.err;
  r = run("eval pq " + llama2c_flags() + " --text " + kvforge::testing::shared("data/tinystories-valid-first1000.txt") +
          " --ratios 0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("(0, 1]"), std::string::npos) << r.err;
}

TEST(CliPq, EvalPqWritesOneRowPerMethodAndRatio) {
  const std::string json = (std::filesystem::temp_directory_path() / "kvf_pq_rows.json").string();
  CliRun r = run("eval pq " + llama2c_flags() + " --text " +
                 kvforge::testing::shared("data/tinystories-valid-first1000.txt") +
                 " --limit 6 --ratios 0.3,0.1 --params m=4,bits=8,sinks=8 --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto rows = nlohmann::json::parse(in)["rows"];
  ASSERT_EQ(rows.size(), 4u);
  std::set<std::string> methods;
  for (const auto& row : rows) {
    methods.insert(row["method"].get<std::string>());
    for (const char* key : {"ratio", "m", "bits", "recall_at_k", "delta_ppl_pct", "kl", "top1_agreement"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
    EXPECT_EQ(row["m"], 4);
    EXPECT_EQ(row["bits"], 8);
    EXPECT_GE(row["recall_at_k"].get<double>(), 0.0);
    EXPECT_LE(row["recall_at_k"].get<double>(), 1.0);
    EXPECT_GT(row["retrievals"].get<int64_t>(), 0);
    if (row["method"] == "oracle") {
      EXPECT_EQ(row["recall_at_k"].get<double>(), 1.0);
    }
  }
  EXPECT_EQ(methods, (std::set<std::string>{"pq", "oracle"}));
}

TEST(CliPq, BenchPqWritesScanAndAttentionRows) {
  const std::string json = (std::filesystem::temp_directory_path() / "kvf_pq_bench.json").string();
  CliRun r = run("bench pq --n-keys 2000 --dim 16 --configs 2x6,4x4 --reps 1 --attention-tokens 600 "
                 "--synthetic dim=64,heads=4,kv_heads=2 --steps 1 --recall-synthetic '' "
                 "--pq '0.2:sinks=4;0.2:sinks=4,m=16,bits=4' --json " +
                 json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto rows = nlohmann::json::parse(in)["rows"];
  ASSERT_EQ(rows.size(), 4u);  // two scan rows, an attention row per retrieval spec
  EXPECT_EQ(rows[0]["case"], "scan");
  EXPECT_EQ(rows[0]["k"], 200);
  EXPECT_TRUE(rows[0].contains("kvforge_ms"));
  EXPECT_EQ(rows[2]["case"], "attention");
  EXPECT_TRUE(rows[2].contains("full_attention_ms"));
  EXPECT_TRUE(rows[2].contains("pq_attention_ms"));
  EXPECT_EQ(rows[2]["m"], 2);
  EXPECT_EQ(rows[3]["case"], "attention");
  EXPECT_EQ(rows[3]["m"], 16);
  EXPECT_EQ(rows[3]["bits"], 4);
}

}  // namespace

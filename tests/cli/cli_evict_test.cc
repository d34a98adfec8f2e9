// kvforge's eviction commands as a user runs them.
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

TEST(CliEvict, GenerateUnderABudgetStaysWithinItAndReportsKvUse) {
  CliRun r = run("generate " + llama2c_flags() + " --prompt 'Once upon a time' -n 120 --temp 0 --policy roco --budget 40");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time", 0), 0u);
  // 5 layers x 4 kv heads x 40 slots.
  EXPECT_NE(r.err.find("kv: 800 slots live (max 40 per kv head, budget 40)"), std::string::npos) << r.err;
  // A full-cache run with the same flags keeps all 119 positions... and the text differs or not,
  // but the first 40 positions never see an eviction, so the opening matches greedy generation.
  CliRun full = run("generate " + llama2c_flags() + " --prompt 'Once upon a time' -n 120 --temp 0");
  ASSERT_EQ(full.code, 0);
  EXPECT_EQ(r.out.substr(0, 100), full.out.substr(0, 100));
}

TEST(CliEvict, GenerateRejectsBadBudgetsClearly) {
  CliRun r = run("generate " + llama2c_flags() + " --prompt hi -n 50 --policy roco --budget 1.5");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("1.5"), std::string::npos) << r.err;
  r = run("generate " + llama2c_flags() + " --prompt hi -n 50 --policy roco --budget 0");
  EXPECT_EQ(r.code, 1);
  r = run("generate " + llama2c_flags() + " --prompt hi -n 200 --policy roco --budget 8");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("14"), std::string::npos) << r.err;  // sinks + recent window
  r = run("generate " + llama2c_flags() + " --prompt hi -n 50 --policy bogus --budget 0.5");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("roco"), std::string::npos) << r.err;  // lists the valid names
  r = run("generate " + llama2c_flags() + " --prompt hi -n 50 --policy roco");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--budget"), std::string::npos) << r.err;
}

TEST(CliEvict, EvalEvictWritesRowsAndAPlot) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string json = (dir / "kvf_evict_rows.json").string();
  const std::string svg = (dir / "kvf_evict_rows.svg").string();
  std::filesystem::remove(svg);
  CliRun r = run("eval evict " + llama2c_flags() + " --text " +
                 kvforge::testing::shared("data/tinystories-valid-first1000.txt") +
                 " --limit 12 --policies full,streaming,roco --budgets 0.5,0.2 --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto rows = nlohmann::json::parse(in)["rows"];
  ASSERT_EQ(rows.size(), 3u * 2u * 2u);
  std::set<std::string> phases;
  for (const auto& row : rows) {
    for (const char* field : {"policy", "budget", "phase", "delta_ppl_pct", "kl", "top1_agreement", "kv_bytes"}) {
      EXPECT_TRUE(row.contains(field)) << field;
    }
    phases.insert(row["phase"].get<std::string>());
    if (row["policy"] == "full") {
      // On the default F16 cache the batched reference and the chunked / token-by-token
      // run sum q.k in different orders; a last-bit score difference can move a softmax
      // weight's fp16 rounding by one ulp (2^-11 of it, as ggml rounds it), so "full"
      // matches to KL ~1e-7 rather than to fp32 noise (1e-9 on the F32 cache).
      EXPECT_NEAR(row["kl"].get<double>(), 0.0, 1e-6);
    } else {
      EXPECT_GT(row["kl"].get<double>(), 0.0);
      EXPECT_LT(row["kv_bytes"].get<double>(), row["kv_bytes_full"].get<double>());
    }
  }
  EXPECT_EQ(phases, (std::set<std::string>{"prefill", "decode"}));
  const std::string plot = kvforge::testing::slurp(svg);
  EXPECT_NE(plot.find("<svg"), std::string::npos);
  EXPECT_NE(plot.find("roco"), std::string::npos);
}

TEST(CliEvict, BenchEvictReportsPolicyOverheadPerStep) {
  const std::string json = (std::filesystem::temp_directory_path() / "kvf_bench_evict.json").string();
  CliRun r = run("bench evict --synthetic dim=256,hidden=512,layers=2,heads=4,kv_heads=2,vocab=1000,ctx=1024 "
                 "--policies full,h2o,roco --context 128 --decode-tokens 4 --prefill-chunk 32 --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto rows = nlohmann::json::parse(in)["rows"];
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["policy_ms"].get<double>(), 0.0);  // full observes nothing
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_GT(rows[i]["policy_ms"].get<double>(), 0.0);
    EXPECT_GT(rows[i]["overhead_pct"].get<double>(), 0.0);
    EXPECT_LT(rows[i]["kv_bytes"].get<double>(), rows[0]["kv_bytes"].get<double>());
  }
}

}  // namespace

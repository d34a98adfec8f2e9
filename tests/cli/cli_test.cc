// The kvforge binary as a user runs it: exact outputs, JSON files, error texts.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "shared_paths.h"

namespace {

using kvforge::testing::CliRun;
using kvforge::testing::golden_dir;
using kvforge::testing::run;
using kvforge::testing::model_dir;

std::string llama2c() { return kvforge::testing::llama2c_flags(); }

// Against llama2.c's run.c, which computes in fp32: these runs take the F32 KV
// cache (the default F16 one rounds keys, values, queries and softmax weights).
TEST(Cli, GenerateGreedyMatchesRunCThroughEveryLosslessFile) {
  const std::string want = kvforge::testing::slurp(golden_dir() + "greedy_once_upon_a_time_n200.txt");
  for (const std::string& model : {llama2c(), "--model " + model_dir() + "stories260K-f32.gguf",
                                   "--model " + model_dir() + "stories260K-f16.gguf",
                                   "--model " + model_dir() + "stories260K-ggml-org.gguf"}) {
    CliRun r = run("generate " + model + " --kv-type f32 --prompt 'Once upon a time' -n 200 --temp 0");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, want) << model;
  }
}

TEST(Cli, GenerateIsRepeatableForASeed) {
  CliRun a = run("generate " + llama2c() + " --prompt 'Tom had' -n 60 --temp 0.8 --topp 0.9 --seed 7");
  CliRun b = run("generate " + llama2c() + " --prompt 'Tom had' -n 60 --temp 0.8 --topp 0.9 --seed 7");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind("Tom had", 0), 0u) << a.out;
}

TEST(Cli, EvalPplWritesJsonAndMatchesReference) {
  const std::string json = (std::filesystem::temp_directory_path() / "kvf_ppl.json").string();
  CliRun r = run("eval ppl " + llama2c() + " --kv-type f32 --text " + golden_dir() + "reference_texts.txt --json " +
                 json);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("| ppl"), std::string::npos);
  std::ifstream in(json);
  auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["rows"].size(), 1u);
  const auto& row = j["rows"][0];
  EXPECT_NEAR(row["ppl"].get<double>(), 5.868081, 5.868081e-3);
  EXPECT_EQ(row["tokens"].get<int>(), 109);
  EXPECT_EQ(row["documents"].get<int>(), 3);
  EXPECT_TRUE(row.contains("mean_nll"));
  EXPECT_EQ(r.err.find('\r'), std::string::npos);  // no progress bar when stderr is not a terminal
}

TEST(Cli, EvalCompareScoresAQuantizedModelAgainstF32) {
  const std::string json = (std::filesystem::temp_directory_path() / "kvf_cmp.json").string();
  CliRun r = run("eval compare --model " + model_dir() + "stories260K-q8_0.gguf --ref-model " + model_dir() +
              "stories260K-f32.gguf --text " + golden_dir() + "reference_texts.txt --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto row = nlohmann::json::parse(in)["rows"][0];
  EXPECT_GT(row["kl"].get<double>(), 0.0);
  EXPECT_LT(row["kl"].get<double>(), 0.05);
  EXPECT_GT(row["top1_agreement"].get<double>(), 0.9);
  EXPECT_LT(std::abs(row["delta_ppl_pct"].get<double>()), 5.0);
}

std::map<std::string, nlohmann::json> info_fields(const std::string& args) {
  const std::string json = (std::filesystem::temp_directory_path() / "kvf_info.json").string();
  CliRun r = run("info " + args + " --json " + json);
  EXPECT_EQ(r.code, 0) << r.err;
  std::map<std::string, nlohmann::json> fields;
  if (r.code != 0) return fields;
  EXPECT_NE(r.out.find("Q8_0"), std::string::npos);
  std::ifstream in(json);
  const nlohmann::json doc = nlohmann::json::parse(in);
  for (const auto& row : doc["rows"]) fields[row["field"].get<std::string>()] = row["value"];
  return fields;
}

TEST(Cli, InfoReportsConfigAndKvBytes) {
  auto f = info_fields("--model " + model_dir() + "stories260K-q8_0.gguf");
  ASSERT_FALSE(f.empty());
  const int64_t layers = f["n_layers"], kv_heads = f["n_kv_heads"], head_dim = f["head_dim"];
  EXPECT_EQ(layers * kv_heads * head_dim, 5 * 4 * 8);  // stories260K
  // The default F16 cache costs per token exactly what llama.cpp's does: K and V
  // of every layer and kv head at 2 bytes; the int32 positions are reported apart.
  EXPECT_EQ(f["kv_type"], "f16");
  EXPECT_EQ(f["kv_bytes_per_token"], layers * kv_heads * head_dim * 2 * 2);
  EXPECT_EQ(f["kv_bytes_per_token_f16"], 640);
  EXPECT_EQ(f["llama_cpp_kv_bytes_per_token_f16"], 640);
  EXPECT_EQ(f["kv_bytes_per_token_f32"], 1280);
  EXPECT_EQ(f["position_bytes_per_token"], layers * kv_heads * 4);
  EXPECT_EQ(f["kv_bytes_full_context"], 640 * f["context_length"].get<int64_t>());

  auto f32 = info_fields("--kv-type f32 --model " + model_dir() + "stories260K-q8_0.gguf");
  EXPECT_EQ(f32["kv_type"], "f32");
  EXPECT_EQ(f32["kv_bytes_per_token"], 1280);
  EXPECT_EQ(f32["llama_cpp_kv_bytes_per_token_f16"], 640);
}

TEST(Cli, UnknownKvTypeIsACliError) {
  for (const std::string& cmd : {"info --model " + model_dir() + "stories260K-q8_0.gguf",
                                "generate " + llama2c() + " --prompt hi -n 4",
                                "eval ppl " + llama2c() + " --text " + golden_dir() + "reference_texts.txt"}) {
    CliRun r = run(cmd + " --kv-type q8_0");
    EXPECT_NE(r.code, 0) << cmd;
    EXPECT_NE(r.err.find("--kv-type"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("f16, f32"), std::string::npos) << r.err;
  }
}

TEST(Cli, BenchRunsOnASmallSyntheticModelAndWritesRows) {
  const std::string json = (std::filesystem::temp_directory_path() / "kvf_bench.json").string();
  CliRun r = run("bench --synthetic dim=256,hidden=512,layers=2,heads=4,kv_heads=2,vocab=1000,ctx=512,type=q8_0 "
              "--threads-list 1,2 --prompt-tokens 16 --decode-tokens 4 -r 1 --bandwidth-mb 32 --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto rows = nlohmann::json::parse(in)["rows"];
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_GT(row["decode_tok_s"].get<double>(), 0);
    EXPECT_GT(row["prefill_tok_s"].get<double>(), 0);
    EXPECT_GT(row["copy_gbps"].get<double>(), 0);
    EXPECT_EQ(row["weights"], "Q8_0");
    EXPECT_EQ(row["kv_type"], "f16");
    EXPECT_EQ(row["context"], 16);  // decode follows the prompt
  }
}

// --context N: decode timed with N tokens in the cache, on either cache type;
// kv_mb is K+V only: 2 layers x 2 kv heads x head_dim 64 x (K+V) x 2 or 4 bytes.
TEST(Cli, BenchTimesDecodeAtAGivenContextOnEitherCache) {
  const std::string json = (std::filesystem::temp_directory_path() / "kvf_bench_ctx.json").string();
  for (const auto& [type, bytes] : {std::pair<std::string, int>{"f16", 2}, {"f32", 4}}) {
    CliRun r = run("bench --synthetic dim=256,hidden=512,layers=2,heads=4,kv_heads=2,vocab=1000,ctx=512,type=q8_0 "
                   "--threads-list 1 --prompt-tokens 16 --context 300 --decode-tokens 4 -r 2 --bandwidth-mb 32 "
                   "--kv-type " + type + " --json " + json);
    ASSERT_EQ(r.code, 0) << r.err;
    std::ifstream in(json);
    const auto row = nlohmann::json::parse(in)["rows"][0];
    EXPECT_EQ(row["kv_type"], type);
    EXPECT_EQ(row["context"], 300);
    EXPECT_DOUBLE_EQ(row["kv_mb"].get<double>(), 300.0 * 2 * 2 * 64 * 2 * bytes / 1e6);
    EXPECT_GT(row["decode_tok_s"].get<double>(), 0);
  }
  CliRun r = run("bench --synthetic dim=64,hidden=128,layers=1,heads=2,kv_heads=1,vocab=100,ctx=64 --prompt-tokens 8 "
                 "--decode-tokens 4 --context 64");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--context"), std::string::npos) << r.err;
}

TEST(Cli, ErrorsNameTheProblem) {
  const auto dir = std::filesystem::temp_directory_path();
  // A truncated checkpoint.
  const std::string bin = kvforge::testing::slurp(model_dir() + "stories260K.bin");
  const std::string cut = (dir / "kvf_truncated.bin").string();
  std::ofstream(cut, std::ios::binary).write(bin.data(), 100000);
  CliRun r = run("generate --model " + cut + " --tokenizer " + model_dir() + "tok512.bin --prompt hi -n 5");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("kvforge: "), std::string::npos);
  EXPECT_NE(r.err.find("kvf_truncated.bin"), std::string::npos) << r.err;

  r = run("info --model " + (dir / "kvf_no_such_file.gguf").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("kvf_no_such_file.gguf"), std::string::npos) << r.err;

  r = run("generate --model " + model_dir() + "stories260K.bin --prompt hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--tokenizer"), std::string::npos) << r.err;

  r = run("eval ppl " + llama2c() + " --text " + golden_dir() + "reference_texts.txt --window 4096");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--window"), std::string::npos) << r.err;

  r = run("generate " + llama2c() + " --prompt hi --topp 3");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("top-p"), std::string::npos) << r.err;

  r = run("bench --synthetic dim=64,bogus=3");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("bogus"), std::string::npos) << r.err;
}

}  // namespace

namespace {

// The fidelity eval text of every later table: real TinyStories validation
// stories, reference perplexity from run.c's method (context 512).
TEST(Cli, EvalPplOnTinyStoriesMatchesReference) {
  const std::string json = (std::filesystem::temp_directory_path() / "kvf_tiny_ppl.json").string();
  CliRun r = run("eval ppl " + llama2c() + " --kv-type f32 --threads 2 --text " +
                 kvforge::testing::shared("data/tinystories-valid-first1000.txt") + " --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(json);
  const auto row = nlohmann::json::parse(in)["rows"][0];
  EXPECT_EQ(row["documents"].get<int>(), 1000);
  EXPECT_EQ(row["tokens"].get<int>(), 362967);
  EXPECT_NEAR(row["mean_nll"].get<double>(), 1.496230, 1.496230e-3);
  EXPECT_NEAR(row["ppl"].get<double>(), 4.464826, 4.464826e-3);
}

}  // namespace

// kvforge synth writes a synthetic model as GGUF that reads back as the same
// model: same configuration, same tensors, same logits.
#include <gtest/gtest.h>

#include "cli_runner.h"
#include "kvforge/model/llama.h"
#include "kvforge/model/synthetic.h"
#include "temp_dir.h"

namespace kvforge {
namespace {

TEST(CliSynth, WrittenModelReadsBackWithTheSameLogits) {
  testing::TempDir dir;
  const std::string spec = "dim=128,hidden=256,layers=2,heads=4,kv_heads=2,vocab=32000,type=q8_0";
  const std::string path = dir.path() + "/syn.gguf";
  auto r = testing::run("synth --synthetic '" + spec + "' --vocab " +
                        testing::shared("peer-tests/llama-spm-tokenizer/ggml-vocab-llama-spm.gguf") + " -o " + path);
  ASSERT_EQ(r.code, 0) << r.err;
  auto file = model::LlamaModel::load({.model_path = path, .tokenizer_path = "", .require_tokenizer = true});
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto mem = model::make_synthetic_model(*model::parse_synthetic_spec(spec), 2);
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ((*file)->config().dim, 128);
  EXPECT_EQ((*file)->config().vocab_size, 32000);
  EXPECT_EQ((*file)->weight_bytes_total(), (*mem)->weight_bytes_total());
  ASSERT_NE((*file)->tokenizer(), nullptr);
  const std::vector<int32_t> ids = (*file)->tokenizer()->encode("Once upon a time", true);
  std::vector<float> a, b;
  model::Session sa(*file, {.n_threads = 2}), sb(*mem, {.n_threads = 2});
  ASSERT_TRUE(sa.forward(ids, model::LogitsMode::kAll, &a).ok());
  ASSERT_TRUE(sb.forward(ids, model::LogitsMode::kAll, &b).ok());
  EXPECT_EQ(a, b);

  auto bad = testing::run("synth --synthetic 'dim=128,hidden=256,layers=1,heads=4,kv_heads=2,vocab=500' --vocab " +
                          testing::shared("peer-tests/llama-spm-tokenizer/ggml-vocab-llama-spm.gguf") + " -o " + path);
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("32000 tokens"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace kvforge

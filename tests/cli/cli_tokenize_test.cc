// kvforge tokenize against llama.cpp's ids on its vocabulary-only GGUFs.
#include <gtest/gtest.h>

#include <string>

#include "cli_runner.h"
#include "shared_paths.h"

namespace {

using kvforge::testing::CliRun;
using kvforge::testing::run;
using kvforge::testing::shared;
using kvforge::testing::slurp;

std::string vocab(const std::string& name) { return shared("peer-tests/tokenizers/ggml-vocab-" + name + ".gguf"); }

TEST(CliTokenize, IdsOnlyMatchesLlamaCppOnWikiHead) {
  for (const std::string name : {"llama-bpe", "qwen2"}) {
    CliRun r = run("tokenize --model " + vocab(name) + " --text " + shared("peer-tests/tokenizers/wiki-head.txt") +
                   " --ids-only --no-bos");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, slurp(shared("peer-tests/tokenizers/wiki-head." + name + ".ids"))) << name;
  }
}

TEST(CliTokenize, BosSpecialAndTable) {
  CliRun bos = run("tokenize --model " + vocab("llama-bpe") + " --prompt 'Hello world' --ids-only");
  ASSERT_EQ(bos.code, 0) << bos.err;
  EXPECT_EQ(bos.out, "128000\n9906\n1917\n");  // Llama 3 adds BOS
  CliRun qwen = run("tokenize --model " + vocab("qwen2") + " --prompt 'Hello world' --ids-only");
  EXPECT_EQ(qwen.out, "9707\n1879\n");  // Qwen2 does not

  CliRun plain = run("tokenize --model " + vocab("llama-bpe") + " --prompt 'a<|eot_id|>' --ids-only --no-bos");
  CliRun special = run("tokenize --model " + vocab("llama-bpe") + " --prompt 'a<|eot_id|>' --ids-only --no-bos --special");
  EXPECT_EQ(special.out, "64\n128009\n");
  EXPECT_NE(plain.out, special.out);

  CliRun table = run("tokenize --model " + vocab("llama-bpe") + " --prompt 'Hello world<|eot_id|>' --special");
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("| 9906"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" world"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("<|eot_id|>"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("4 tokens"), std::string::npos) << table.out;
}

TEST(CliTokenize, SpmVocabularyAndErrors) {
  CliRun spm = run("tokenize --model " + shared("peer-tests/llama-spm-tokenizer/ggml-vocab-llama-spm.gguf") +
                   " --prompt 'Hello world' --ids-only");
  ASSERT_EQ(spm.code, 0) << spm.err;
  EXPECT_EQ(spm.out, "1\n15043\n3186\n");

  CliRun none = run("tokenize --model " + vocab("llama-bpe") + " --ids-only");
  EXPECT_NE(none.code, 0);
  EXPECT_NE(none.err.find("--prompt"), std::string::npos) << none.err;
  CliRun missing = run("tokenize --model /no/such.gguf --prompt x");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("/no/such.gguf"), std::string::npos) << missing.err;
}

}  // namespace

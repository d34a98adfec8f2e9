// A random-weight llama GGUF carrying the Llama 3 vocabulary (byte-level BPE,
// 128,256 tokens) end to end through the CLI: text in, text out, EOS stops,
// perplexity over text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/llama.h"
#include "kvforge/model/sampler.h"
#include "model/arch_model.h"
#include "temp_dir.h"

namespace kvforge {
namespace {

model::Vocab llama3_vocab() {
  auto v = model::read_gguf_vocab(testing::shared("peer-tests/tokenizers/ggml-vocab-llama-bpe.gguf"));
  EXPECT_TRUE(v.ok()) << v.status().to_string();
  return v.ok() ? *v : model::Vocab{};
}

// Writes the model with `eos` as its end-of-sequence id.
std::string write_model(const testing::TempDir& dir, const model::Vocab& vocab, int32_t eos) {
  testing::ArchSpec s;
  s.dim = 64;
  s.vocab = static_cast<int>(vocab.tokens.size());
  s.tied = false;
  s.rope_theta = 5e5f;
  const testing::ArchWeights w = testing::make_arch_weights(s);
  model::GgufWriter g = testing::arch_gguf(s, w);
  model::Vocab v = vocab;
  v.eos_id = eos;
  g.add_vocab(v);
  const std::string path = dir.path() + "/llama3-random-" + std::to_string(eos) + ".gguf";
  EXPECT_TRUE(g.write(path).ok());
  return path;
}

// Greedy continuation in process: the ids `kvforge generate --temp 0` must pick.
std::vector<int32_t> greedy_ids(const std::string& path, const std::vector<int32_t>& prompt, int steps) {
  auto m = model::LlamaModel::load({.model_path = path, .tokenizer_path = "", .require_tokenizer = true});
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  model::Session session(*m, {.n_threads = 2});
  std::vector<float> logits;
  EXPECT_TRUE(session.forward(prompt, model::LogitsMode::kLast, &logits).ok());
  std::vector<int32_t> out;
  for (int i = 0; i < steps; ++i) {
    out.push_back(model::Sampler::argmax(logits));
    EXPECT_TRUE(session.decode(out.back(), &logits).ok());
  }
  return out;
}

TEST(CliBpeModel, GenerateStopsAtEosAndPerplexityRuns) {
  const model::Vocab vocab = llama3_vocab();
  ASSERT_EQ(vocab.model, "gpt2");
  testing::TempDir dir;
  const std::string plain = write_model(dir, vocab, vocab.eos_id);
  auto m = model::LlamaModel::load({.model_path = plain, .tokenizer_path = "", .require_tokenizer = true});
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const model::Tokenizer& tok = *(*m)->tokenizer();
  const std::string prompt = "The café owner said: \"hello, world\" 42 times!";
  const std::vector<int32_t> ids = tok.encode(prompt, /*add_special=*/true);
  ASSERT_EQ(ids.front(), vocab.bos_id);  // Llama 3 adds <|begin_of_text|>
  EXPECT_EQ(tok.decode(std::vector<int32_t>(ids.begin() + 1, ids.end())), prompt);

  const std::vector<int32_t> greedy = greedy_ids(plain, ids, 12);
  // The same weights with a later greedy token declared EOS: generation must
  // stop right before it, having printed the text before it.
  size_t stop = 3;
  while (stop < greedy.size() && std::find(greedy.begin(), greedy.begin() + stop, greedy[stop]) != greedy.begin() + stop) {
    ++stop;
  }
  ASSERT_LT(stop, greedy.size()) << "greedy decoding repeats one token; no later token to declare EOS";
  const std::string eos_model = write_model(dir, vocab, greedy[stop]);
  const std::string n = " -n " + std::to_string(ids.size() + greedy.size() - 1);  // -n counts positions
  auto r = testing::run("generate --model " + eos_model + " --prompt '" + prompt + "' --temp 0" + n);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string want = prompt + tok.decode(std::vector<int32_t>(greedy.begin(), greedy.begin() + stop));
  EXPECT_EQ(r.out, want + "\n");

  // Without that EOS the same command runs all steps and prints more.
  auto full = testing::run("generate --model " + plain + " --prompt '" + prompt + "' --temp 0" + n);
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_EQ(full.out, prompt + tok.decode(greedy) + "\n");

  const std::string text = dir.write("text.txt", std::vector<uint8_t>{});
  {
    std::ofstream f(text);
    f << "Once upon a time, there was a tokenizer.\nIt split text into bytes, then merged them.\n";
  }
  auto ppl = testing::run("eval ppl --model " + plain + " --text " + text + " --json " + dir.path() + "/ppl.json");
  ASSERT_EQ(ppl.code, 0) << ppl.err;
  const auto json = nlohmann::json::parse(testing::slurp(dir.path() + "/ppl.json"));
  const size_t expect_tokens = tok.encode("Once upon a time, there was a tokenizer.", true).size() - 1 +
                               tok.encode("It split text into bytes, then merged them.", true).size() - 1;
  EXPECT_EQ(json["rows"][0]["tokens"].get<size_t>(), expect_tokens) << json;
  EXPECT_EQ(json["rows"][0]["documents"].get<int>(), 2) << json;
  EXPECT_GT(json["rows"][0]["ppl"].get<double>(), 1.0) << json;
}

}  // namespace
}  // namespace kvforge

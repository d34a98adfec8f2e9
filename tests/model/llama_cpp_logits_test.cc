// kvforge's logits against llama.cpp's on the same ids, for every file in
// ../shared/peer-tests/llama.cpp-logits (random weights; llama, llama with
// Llama 3 frequency factors, qwen2; F32 to Q2_K as llama-quantize mixes them).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <span>
#include <filesystem>

#include "kvforge/eval/logit_file.h"
#include "kvforge/model/llama.h"
#include "shared_paths.h"

namespace kvforge::model {
namespace {

std::string logits_dir() { return testing::shared("peer-tests/llama.cpp-logits/"); }

std::vector<std::string> reference_files() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(logits_dir())) {
    if (e.path().extension() == ".gguf") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(LlamaCppLogits, EveryReferenceFileIsPresent) {
  // The conformance set is the one the README describes: 20 files.
  EXPECT_EQ(reference_files().size(), 20u);
}

// The stored Q4_0 and Q4_1 logits are not what llama.cpp b4748 computes for
// those files: run here (its icelake CPU variant, Q4_0 repacked to 8x8) it
// lands at KL 2.6 / 3.0 and top-1 0.15 / 0.09 from its own stored output, while
// every other file reproduces to KL <= 1e-3 (most to 1e-13). Those two are
// compared with llama.cpp's logits computed now by the reference build.
const char* const kRecomputed[] = {"syn-llama-q4_0", "syn-llama-q4_1"};

std::string reference_logits(const std::string& name, const std::string& stem) {
  for (const char* r : kRecomputed) {
    if (name != r) continue;
    const std::string out = ::testing::TempDir() + "kvf_llama_cpp_" + name;
    const std::string cmd = testing::shared("reference/llama.cpp-b4748/bin/llama-logits") + " " + stem + ".gguf --ids " +
                            stem + ".ids " + out + " --threads 2 >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return out + ".logits";
  }
  return stem + ".logits";
}

class LlamaCppLogits : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaCppLogits, AgreesWithLlamaCpp) {
  const std::string stem = logits_dir() + GetParam();
  auto m = LlamaModel::load({.model_path = stem + ".gguf", .tokenizer_path = "", .require_tokenizer = false});
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto ids = eval::read_ids_file(stem + ".ids");
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  const size_t vocab = static_cast<size_t>((*m)->config().vocab_size);
  auto ref = eval::read_logits_file(reference_logits(GetParam(), stem), ids->size(), vocab);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  // llama.cpp's default cache: F16 keys and values.
  Session session(*m, {.n_threads = 2, .batch_size = static_cast<int>(ids->size()), .kv_type = kv::KvType::kF16});
  std::vector<float> got;
  ASSERT_TRUE(session.forward(*ids, LogitsMode::kAll, &got).ok());
  const eval::LogitAgreement a = eval::compare_logits(*ref, got, vocab);
  const bool full_precision = GetParam().ends_with("-f32") || GetParam().ends_with("-f16");
  EXPECT_LE(a.kl, full_precision ? 1e-4 : 1e-2) << GetParam();
  // 19 of the 20 files agree on the top token at >= 0.95 of positions; these
  // random models have many near-ties, and where kvforge and llama.cpp pick
  // differently llama.cpp's own margin between the two tokens is small (at
  // most 0.07 here, against a typical max |diff| of 0.2-0.3 from quantized
  // activations flipping at rounding boundaries). A wrong block layout gives
  // top-1 below 0.5 and margins of whole units.
  EXPECT_GE(a.top1_agreement, 0.92) << GetParam();
  for (size_t t = 0; t < ids->size(); ++t) {
    const std::span<const float> want(ref->data() + t * vocab, vocab), have(got.data() + t * vocab, vocab);
    const size_t i = static_cast<size_t>(std::max_element(want.begin(), want.end()) - want.begin());
    const size_t j = static_cast<size_t>(std::max_element(have.begin(), have.end()) - have.begin());
    EXPECT_LT(want[i] - want[j], 0.15f) << GetParam() << " position " << t << ": llama.cpp prefers token " << i
                                        << " to kvforge's " << j << " by more than a near-tie";
  }
  std::printf("%-22s kl %.3g  max_kl %.3g  top1 %.4f  max|d| %.4g\n", GetParam().c_str(), a.kl, a.max_kl,
              a.top1_agreement, a.max_abs_diff);
}

INSTANTIATE_TEST_SUITE_P(Files, LlamaCppLogits, ::testing::ValuesIn(reference_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace kvforge::model

#include <gtest/gtest.h>
#include <cmath>
#include <cstdio>
#include "kvforge/model/llama.h"
#include "shared_paths.h"
namespace kvforge::codec {
TEST(Analysis, KvStats) {
  model::LoadOptions lo;
  lo.model_path = testing::model_dir() + "stories260K.bin";
  lo.tokenizer_path = testing::model_dir() + "tok512.bin";
  auto m = model::LlamaModel::load(lo);
  if (!m.ok()) GTEST_SKIP();
  const auto lines = testing::lines(testing::shared("data/tinystories-valid-first1000.txt"));
  const auto* tok = (*m)->tokenizer();
  for (size_t doc = 0; doc < 3; ++doc) {
    auto ids = tok->encode(lines[doc], true);
    const size_t split = ids.size() / 2;
    model::Session s(*m);
    ASSERT_TRUE(s.forward(std::span<const int32_t>(ids.data(), split), model::LogitsMode::kNone, nullptr).ok());
    kv::DenseKvF32 d;
    ASSERT_TRUE(s.cache().export_range(0, split, &d).ok());
    const int L = d.shape.n_layers, H = d.shape.n_kv_heads, D = d.shape.head_dim;
    const size_t T = d.n_tokens;
    printf("doc %zu T=%zu L=%d H=%d D=%d\n", doc, T, L, H, D);
    for (int l = 0; l < L; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const float* x = (kv ? d.v.data() : d.k.data()) + (size_t)l * H * T * D;
        printf(" L%d %c amax_all/amax_rest/mean/std/lag1corr/t0:", l, kv ? 'V' : 'K');
        for (int h = 0; h < H; ++h)
          for (int dd = 0; dd < D; ++dd) {
            double a0 = 0, a1 = 0, s1 = 0, s2 = 0, c = 0;
            for (size_t t = 0; t < T; ++t) {
              double v = x[(h * T + t) * D + dd];
              a0 = std::max(a0, std::fabs(v));
              if (t) { a1 = std::max(a1, std::fabs(v)); s1 += v; s2 += v * v; }
            }
            double mean = s1 / (T - 1), var = s2 / (T - 1) - mean * mean;
            for (size_t t = 2; t < T; ++t) c += (x[(h * T + t) * D + dd] - mean) * (x[(h * T + t - 1) * D + dd] - mean);
            c /= (T - 2) * var;
            if (h < 2) printf(" [%.2f %.2f %.2f %.2f %.2f %.2f]", a0, a1, mean, std::sqrt(var), c, x[(h * T) * D + dd]);
          }
        printf("\n");
      }
  }
}
}

// Token samplers with llama2.c's semantics, so a seeded run reproduces run.c:
// temperature 0 is argmax; otherwise logits / temperature, softmax, then
// nucleus (top-p) sampling when 0 < top_p < 1, else plain multinomial; top_k > 0
// first keeps only the k most likely tokens (llama.cpp's order: top-k, then
// top-p, on the renormalised survivors). The RNG
// is run.c's xorshift64*; seed 0 is replaced by a fixed non-zero constant.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::model {

struct SamplerOptions {
  float temperature = 1.0f;
  float top_p = 0.9f;
  uint64_t seed = 0;
  int top_k = 0;  // 0: off
};

class Sampler {
 public:
  // InvalidArgument for a negative temperature or top_p outside [0, 1].
  static Result<Sampler> create(const SamplerOptions& options);

  // Picks a token from `logits` (modified in place).
  int32_t sample(std::span<float> logits);

  static int32_t argmax(std::span<const float> logits);

 private:
  explicit Sampler(const SamplerOptions& o);
  float random_f32();
  int32_t sample_top_k(std::span<float> probabilities, float coin);
  int32_t draw(size_t last, float r) const;

  SamplerOptions options_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace kvforge::model

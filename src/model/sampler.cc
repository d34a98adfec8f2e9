#include "kvforge/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kvforge/core/kernels.h"

namespace kvforge::model {

Result<Sampler> Sampler::create(const SamplerOptions& o) {
  if (!(o.temperature >= 0.0f) || !std::isfinite(o.temperature)) {
    return Status::InvalidArgument("temperature must be a finite number >= 0, got " + std::to_string(o.temperature));
  }
  if (!(o.top_p >= 0.0f && o.top_p <= 1.0f)) {
    return Status::InvalidArgument("top-p must be within [0, 1], got " + std::to_string(o.top_p));
  }
  if (o.top_k < 0) return Status::InvalidArgument("top-k must be >= 0, got " + std::to_string(o.top_k));
  return Sampler(o);
}

Sampler::Sampler(const SamplerOptions& o) : options_(o), state_(o.seed != 0 ? o.seed : 0x9E3779B97F4A7C15ull) {}

float Sampler::random_f32() {
  // run.c's xorshift64*, so seeds mean the same thing as there.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  const uint32_t r = static_cast<uint32_t>((state_ * 0x2545F4914F6CDD1Dull) >> 32);
  return static_cast<float>(r >> 8) / 16777216.0f;
}

int32_t Sampler::argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

int32_t Sampler::sample(std::span<float> logits) {
  if (options_.temperature == 0.0f) return argmax(logits);
  const size_t n = logits.size();
  for (float& x : logits) x /= options_.temperature;
  core::softmax_f32(logits.data(), n);
  const float coin = random_f32();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < n) return sample_top_k(logits, coin);
  if (options_.top_p <= 0.0f || options_.top_p >= 1.0f) {
    float cdf = 0.0f;
    for (size_t i = 0; i < n; ++i) {
      cdf += logits[i];
      if (coin < cdf) return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(n - 1);  // rounding left the sum below coin
  }
  // Nucleus: tokens below (1 - top_p) / (n - 1) cannot be in the nucleus, so
  // dropping them first keeps the sort small (as run.c does).
  const float cutoff = (1.0f - options_.top_p) / static_cast<float>(n - 1);
  candidates_.clear();
  for (size_t i = 0; i < n; ++i) {
    if (logits[i] >= cutoff) candidates_.emplace_back(logits[i], static_cast<int32_t>(i));
  }
  std::stable_sort(candidates_.begin(), candidates_.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  float cumulative = 0.0f;
  size_t last = candidates_.size() - 1;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += candidates_[i].first;
    if (cumulative > options_.top_p) {
      last = i;
      break;
    }
  }
  return draw(last, coin * cumulative);
}

// The k most likely tokens, renormalised, then top-p over them (if set).
int32_t Sampler::sample_top_k(std::span<float> probabilities, float coin) {
  const size_t k = static_cast<size_t>(options_.top_k);
  candidates_.clear();
  for (size_t i = 0; i < probabilities.size(); ++i) candidates_.emplace_back(probabilities[i], static_cast<int32_t>(i));
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k), candidates_.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  candidates_.resize(k);
  float total = 0.0f;
  for (const auto& c : candidates_) total += c.first;
  const bool nucleus = options_.top_p > 0.0f && options_.top_p < 1.0f;
  size_t last = k - 1;
  float kept = 0.0f;
  for (size_t i = 0; i < k; ++i) {
    kept += candidates_[i].first;
    if (nucleus && kept > options_.top_p * total) {
      last = i;
      break;
    }
  }
  return draw(last, coin * kept);
}

// The candidate where the running sum of candidates_[0..last] passes r.
int32_t Sampler::draw(size_t last, float r) const {
  float cdf = 0.0f;
  for (size_t i = 0; i <= last; ++i) {
    cdf += candidates_[i].first;
    if (r < cdf) return candidates_[i].second;
  }
  return candidates_[last].second;
}

}  // namespace kvforge::model

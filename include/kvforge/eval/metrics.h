// Scores of next-token predictions, accumulated token by token.
//  - NllAccumulator: teacher-forced negative log-likelihood (natural log) and
//    perplexity exp(mean NLL).
//  - FidelityAccumulator: a run under test against a reference run on the same
//    tokens: mean KL(p_ref || p_test), top-1 agreement (argmax equal), and
//    delta_ppl_pct = 100 * (ppl_test / ppl_ref - 1).
// Sums are kept in double so long texts do not lose precision.
#pragma once

#include <cstdint>
#include <span>

namespace kvforge::eval {

// log softmax(logits)[target], computed stably.
double log_prob(std::span<const float> logits, int32_t target);

class NllAccumulator {
 public:
  void add(std::span<const float> logits, int32_t target) { add_nll(-log_prob(logits, target)); }
  void add_nll(double nll) { sum_ += nll; ++count_; }
  void merge(const NllAccumulator& o) { sum_ += o.sum_; count_ += o.count_; }
  int64_t tokens() const { return count_; }
  double mean_nll() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  double ppl() const;

 private:
  double sum_ = 0;
  int64_t count_ = 0;
};

struct FidelityResult {
  int64_t tokens = 0;
  double ref_ppl = 0;
  double test_ppl = 0;
  double delta_ppl_pct = 0;
  double kl = 0;              // mean over tokens, nats
  double top1_agreement = 0;  // fraction in [0, 1]
};

class FidelityAccumulator {
 public:
  // Both rows have the same vocabulary size.
  void add(std::span<const float> ref_logits, std::span<const float> test_logits, int32_t target);
  void merge(const FidelityAccumulator& o);
  FidelityResult result() const;

 private:
  NllAccumulator ref_, test_;
  double kl_sum_ = 0;
  int64_t agree_ = 0;
  int64_t count_ = 0;
};

}  // namespace kvforge::eval

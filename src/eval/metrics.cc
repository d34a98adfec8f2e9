#include "kvforge/eval/metrics.h"

#include <cmath>
#include <limits>

namespace kvforge::eval {

namespace {
double log_sum_exp(std::span<const float> x, float* max_out) {
  float m = -std::numeric_limits<float>::infinity();
  for (float v : x) m = v > m ? v : m;
  double s = 0;
  for (float v : x) s += std::exp(static_cast<double>(v) - m);
  *max_out = m;
  return m + std::log(s);
}

size_t argmax(std::span<const float> x) {
  size_t best = 0;
  for (size_t i = 1; i < x.size(); ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}
}  // namespace

double log_prob(std::span<const float> logits, int32_t target) {
  float m;
  return static_cast<double>(logits[static_cast<size_t>(target)]) - log_sum_exp(logits, &m);
}

double NllAccumulator::ppl() const { return std::exp(mean_nll()); }

void FidelityAccumulator::add(std::span<const float> ref_logits, std::span<const float> test_logits, int32_t target) {
  float mr, mt;
  const double lse_r = log_sum_exp(ref_logits, &mr);
  const double lse_t = log_sum_exp(test_logits, &mt);
  double kl = 0;
  for (size_t i = 0; i < ref_logits.size(); ++i) {
    const double lr = ref_logits[i] - lse_r;
    const double lt = test_logits[i] - lse_t;
    kl += std::exp(lr) * (lr - lt);
  }
  kl_sum_ += kl > 0 ? kl : 0;  // rounding can dip a hair below zero
  agree_ += argmax(ref_logits) == argmax(test_logits) ? 1 : 0;
  ++count_;
  ref_.add_nll(lse_r - ref_logits[static_cast<size_t>(target)]);
  test_.add_nll(lse_t - test_logits[static_cast<size_t>(target)]);
}

void FidelityAccumulator::merge(const FidelityAccumulator& o) {
  ref_.merge(o.ref_);
  test_.merge(o.test_);
  kl_sum_ += o.kl_sum_;
  agree_ += o.agree_;
  count_ += o.count_;
}

FidelityResult FidelityAccumulator::result() const {
  FidelityResult r;
  r.tokens = count_;
  if (count_ == 0) return r;
  r.ref_ppl = ref_.ppl();
  r.test_ppl = test_.ppl();
  r.delta_ppl_pct = 100.0 * (r.test_ppl / r.ref_ppl - 1.0);
  r.kl = kl_sum_ / static_cast<double>(count_);
  r.top1_agreement = static_cast<double>(agree_) / static_cast<double>(count_);
  return r;
}

}  // namespace kvforge::eval

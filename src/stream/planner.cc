#include "kvforge/stream/planner.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kvforge::stream {

Planner::Planner(PlannerConfig config, std::vector<size_t> chunk_tokens, size_t stored)
    : config_(std::move(config)),
      tokens_(std::move(chunk_tokens)),
      stored_(std::min(stored, tokens_.size())),
      predicted_finish_(tokens_.size(), 0),
      compute_cost_(tokens_.size(), 0),
      level_(tokens_.size(), -1) {}

double Planner::fetch_seconds(int level, size_t tokens, double bw) const {
  const double bytes = config_.levels[static_cast<size_t>(level)].bytes_per_token * static_cast<double>(tokens);
  return bytes / std::max(bw, 1.0) + config_.rtt_seconds;
}

double Planner::decode_seconds(int level, size_t tokens) const {
  return config_.levels[static_cast<size_t>(level)].decode_seconds_per_token * static_cast<double>(tokens);
}

double Planner::prefill_seconds(size_t tokens) const {
  return config_.prefill_seconds_per_token * static_cast<double>(tokens);
}

double Planner::rest_after(size_t i, double bw) const {
  double rest = 0;
  for (size_t j = i + 1; j < tokens_.size(); ++j) {
    double best = prefill_seconds(tokens_[j]);
    if (j < stored_) {
      for (size_t l = 0; l < config_.levels.size(); ++l) {
        const int li = static_cast<int>(l);
        best = std::min(best, std::max(fetch_seconds(li, tokens_[j], bw), decode_seconds(li, tokens_[j])));
      }
    }
    rest += best;
  }
  return rest;
}

Decision Planner::decide(size_t i, double now, double bw) {
  const size_t n = tokens_[i];
  const double rest = rest_after(i, bw);
  std::vector<Decision> options;  // levels best first, then recompute
  if (i < stored_) {
    for (size_t l = 0; l < config_.levels.size(); ++l) {
      Decision d;
      d.level = static_cast<int>(l);
      d.predicted_fetch_seconds = fetch_seconds(d.level, n, bw);
      d.predicted_compute_seconds = decode_seconds(d.level, n);
      d.predicted_finish = std::max(now + d.predicted_fetch_seconds, compute_ready_) + d.predicted_compute_seconds;
      options.push_back(d);
    }
  }
  Decision r;
  r.predicted_compute_seconds = prefill_seconds(n);
  r.predicted_finish = std::max(now, compute_ready_) + r.predicted_compute_seconds;
  options.push_back(r);
  // TTFT first: the fastest option sets the pace, and the best-quality option
  // that meets the deadline and finishes within quality_slack of it is taken
  // (a better level that costs more time than that would spend the TTFT the
  // stream exists to save).
  double fastest = options.front().predicted_finish;
  for (const Decision& d : options) fastest = std::min(fastest, d.predicted_finish);
  const double allowed = std::isinf(config_.quality_slack) ? std::numeric_limits<double>::infinity()
                                                           : now + (fastest - now) * (1.0 + config_.quality_slack);
  const Decision* pick = nullptr;
  for (const Decision& d : options) {
    if (d.predicted_finish + rest <= config_.deadline_seconds && d.predicted_finish <= allowed) {
      pick = &d;
      break;
    }
  }
  Decision best;
  if (pick) {
    best = *pick;
  } else {  // best effort: the earliest finish
    best = *std::min_element(options.begin(), options.end(), [](const Decision& a, const Decision& b) {
      return a.predicted_finish < b.predicted_finish;
    });
    best.feasible = false;
  }
  best.bandwidth = bw;
  ready_before_ = compute_ready_;
  compute_ready_ = best.predicted_finish;
  predicted_finish_[i] = best.predicted_finish;
  compute_cost_[i] = best.predicted_compute_seconds;
  level_[i] = best.level;
  return best;
}

void Planner::on_fetched(size_t i, double now, double bytes) {
  compute_ready_ = std::max(now, ready_before_) + compute_cost_[i];
  predicted_finish_[i] = compute_ready_;
  const int l = level_[i];
  if (l >= 0 && bytes > 0 && tokens_[i] > 0) {  // the size model follows what arrives
    double& bpt = config_.levels[static_cast<size_t>(l)].bytes_per_token;
    bpt = 0.5 * bpt + 0.5 * bytes / static_cast<double>(tokens_[i]);
  }
}

void Planner::on_fallback(size_t i, double now) {
  compute_cost_[i] = prefill_seconds(tokens_[i]);
  compute_ready_ = std::max(now, ready_before_) + compute_cost_[i];
  predicted_finish_[i] = compute_ready_;
}

void Planner::on_computed(size_t i, double now) {
  const double late = now - predicted_finish_[i];
  if (late > 0) compute_ready_ += late;
}

}  // namespace kvforge::stream

// CacheGen's streaming planner: before each stored chunk, pick the highest-
// quality level whose predicted fetch + decode keeps the rest of the load
// within the TTFT deadline and finishes the chunk within quality_slack of the
// fastest option (TTFT first), else recompute the chunk from its text. The model
// (docs/STREAM.md) is a two-stage pipeline: a fetch thread moves chunk i+1
// while the compute thread decodes (or prefills) chunk i.
//
//   fetch_l(i)   = bytes_per_token[l] * n_i / bandwidth + rtt
//   decode_l(i)  = decode_seconds_per_token[l] * n_i
//   prefill(i)   = prefill_seconds_per_token * n_i
//   finish_l(i)  = max(now + fetch_l(i), compute_ready) + decode_l(i)
//   finish_R(i)  = max(now, compute_ready) + prefill(i)
//   rest(i)      = sum over j > i of min(min_l max(fetch_l(j), decode_l(j)), prefill(j))
//                  (stored chunks; prefill(j) for missing ones)
//   fastest      = min over the options (levels and recompute) of finish
//   choose the first option (best first, recompute last) with finish + rest(i)
//   <= deadline and finish - now <= (1 + quality_slack) * (fastest - now), else
//   (infeasible) the option with the smallest finish (best effort, reported).
//   An unbounded quality_slack is CacheGen's rule: the best level that keeps
//   the deadline, spending all the slack on quality.
//
// The planner returns decisions; its caller fetches and computes (it owns the
// model). Times are seconds since the load began. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace kvforge::stream {

// One codec level a chunk can be fetched at, and what it costs.
struct LevelCost {
  std::string level;                     // codec spec, as stored ("cachegen:level=3")
  double bytes_per_token = 0;            // frame bytes per token
  double decode_seconds_per_token = 0;   // decode + import into the cache
};

struct PlannerConfig {
  std::vector<LevelCost> levels;         // best quality first
  double prefill_seconds_per_token = 0;  // recompute cost
  double deadline_seconds = 1;           // TTFT budget
  double rtt_seconds = 0;                // fixed cost per fetch
  // How much later than the fastest option (relative to now) a better level
  // may finish a chunk and still be chosen: TTFT first, quality second.
  double quality_slack = 0.1;
};

struct Decision {
  int level = -1;          // index into PlannerConfig::levels; -1 = recompute
  bool feasible = true;    // false: no choice met the deadline (best effort)
  double predicted_fetch_seconds = 0;
  double predicted_compute_seconds = 0;
  double predicted_finish = 0;  // when the chunk is in the cache (since load start)
  double bandwidth = 0;         // bytes/second the decision assumed
};

class Planner {
 public:
  // `chunk_tokens[i]`: tokens of chunk i; chunks >= `stored` are missing.
  Planner(PlannerConfig config, std::vector<size_t> chunk_tokens, size_t stored);

  // Decides chunk i (in order) at time `now` with the bandwidth estimate.
  Decision decide(size_t i, double now, double bytes_per_second);
  // Chunk i, most recently decided at a level, finished arriving at `now` with
  // `bytes`: corrects the compute timeline and the level's size model.
  void on_fetched(size_t i, double now, double bytes);
  // Chunk i was not fetched after all (failure): it is recomputed instead.
  void on_fallback(size_t i, double now);
  // The compute thread finished chunk i at `now` (real clocks): later
  // predictions shift when compute runs late.
  void on_computed(size_t i, double now);
  // Chunks >= i are recomputed whatever happens (the source failed).
  void mark_missing_from(size_t i) { stored_ = std::min(stored_, i); }

  const PlannerConfig& config() const { return config_; }
  double fetch_seconds(int level, size_t tokens, double bw) const;
  double decode_seconds(int level, size_t tokens) const;
  double prefill_seconds(size_t tokens) const;

 private:
  double rest_after(size_t i, double bw) const;
  PlannerConfig config_;
  std::vector<size_t> tokens_;
  size_t stored_;
  double compute_ready_ = 0;  // predicted end of every compute decided so far
  double ready_before_ = 0;   // compute_ready_ before the last decision
  std::vector<double> predicted_finish_;
  std::vector<double> compute_cost_;  // predicted compute seconds per decided chunk
  std::vector<int> level_;            // decided level per chunk (-1: recompute)
};

}  // namespace kvforge::stream

// Loading a context's KV cache from a chunk source into a model session
// (CacheGen's client): look up the stored prefix, then per chunk fetch the
// level the planner picks (a fetch thread runs one chunk ahead: chunk i+1 moves
// while chunk i is decoded and imported), or recompute it with the model
// (batched prefill continuing from what is in the cache). Missing chunks, a
// chunk that is corrupt or of the wrong shape, one whose KV is not its tokens'
// (content_check.h), and every chunk after a source failure are recomputed, so
// the load always completes; the last token is run
// through the model so its logits are ready and generation can continue.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/kv/recompute.h"
#include "kvforge/store/chunk_key.h"
#include "kvforge/store/stored_chunk.h"
#include "kvforge/stream/chunk_source.h"
#include "kvforge/core/env.h"
#include "kvforge/stream/planner.h"

namespace kvforge::stream {

struct LoadOptions {
  // Levels (best first) with their costs, prefill speed and the deadline.
  PlannerConfig planner;
  // "adaptive" (the planner), "recompute" (every chunk from text), or one of
  // planner.levels' names: every stored chunk at that level.
  std::string mode = "adaptive";
  size_t chunk_tokens = store::kDefaultChunkTokens;
  // Bandwidth assumed before the first transfer, and the estimator's window.
  double initial_bytes_per_second = 100e6;
  size_t estimator_window = 3;
  // Null: the real clock (core::Env::Default()). A core::VirtualClock makes
  // decisions depend only on the source's emulated transfer times (compute
  // costs no virtual time).
  core::Clock* clock = nullptr;
  // For cachegen levels stored with a model profile.
  const codec::Profile* profile = nullptr;
};

// One chunk of the load, as logged.
struct ChunkLog {
  size_t index = 0;
  size_t tokens = 0;
  std::string choice;  // level spec, or "recompute"
  std::string note;    // "planned", "missing", "infeasible", "corrupt: ...", "source failed: ..."
                       // ("corrupt: Corruption: content mismatch: ..." for other tokens' KV)
  bool feasible = true;
  double predicted_ms = 0;  // decision to chunk in the cache, predicted
  double actual_ms = 0;     // decision to chunk in the cache, measured
  double fetch_ms = 0;
  double compute_ms = 0;
  double check_ms = 0;  // of compute_ms: the content check of a decoded chunk
  uint64_t bytes = 0;
  double bandwidth_mbps = 0;  // the estimate the decision used
};

struct LoadReport {
  std::vector<ChunkLog> chunks;
  size_t tokens = 0;
  size_t stored_chunks = 0;    // the looked-up prefix
  size_t fetched_chunks = 0;   // loaded from the source
  size_t recomputed_chunks = 0;
  size_t content_mismatches = 0;  // fetched chunks holding other tokens' KV (recomputed)
  uint64_t bytes_fetched = 0;
  bool source_failed = false;
  double ttft_seconds = 0;     // start to the last token's logits
  bool deadline_met = false;
  std::vector<float> logits;   // of the last token
};

// Fills `session` (which must be empty) with the KV of `tokens` (BOS first, as
// the store was filled) and returns the last token's logits in the report.
// InvalidArgument for a non-empty session, no tokens, or an unknown mode.
// Source failures never fail the load (they are recomputed and logged); model
// errors do (the session is then partly filled: reset it).
Result<LoadReport> load_context(kv::Recompute& session, ChunkSource& source, std::span<const int32_t> tokens,
                                const LoadOptions& options);

// Measures what the planner needs on this machine from one stored chunk: each
// level's bytes and decode + import seconds per token, and the prefill seconds
// per token (best of `reps`, on the chunk's tokens at position 0), in `session`
// (reset before each run): give one like the session that will load, since its
// KV type decides what an import costs (F16 converts).
struct Calibration {
  std::vector<LevelCost> levels;  // in `levels` order
  double prefill_seconds_per_token = 0;
};
Result<Calibration> calibrate(kv::Recompute& session, const store::StoredChunk& sample,
                              const std::vector<std::string>& levels, int reps = 2,
                              const codec::Profile* profile = nullptr);

}  // namespace kvforge::stream

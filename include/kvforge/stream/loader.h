// Loading a context's KV cache from a chunk source into a model session
// (CacheGen's client): look up the stored prefix, then per chunk fetch the
// level the planner picks (a fetch thread runs one chunk ahead: chunk i+1 moves
// while chunk i is decoded and imported), or recompute it with the model
// (batched prefill continuing from what is in the cache). Missing chunks, a
// chunk that is corrupt or of the wrong shape, one whose KV is not its tokens'
// (content_check.h), and every chunk after a source failure are recomputed, so
// the load always completes; the last token is run
// through the model so its logits are ready and generation can continue.
//
// The network never holds the load past its deadline by more than one
// recompute of what is left (docs/STREAM.md, "Bounds"):
//   deadline   the planner's deadline_seconds (unbounded in a fixed-level
//              mode) bounds the lookup and every fetch by the time left; a fetch
//              in flight at the deadline is abandoned, and every chunk decided
//              after it is recomputed ("deadline").
//   cap        a fetch accepts at most codec::max_encoded_size of its level and
//              chunk; a larger answer is cut there and recomputed ("too large").
//   slow       after slow_grace_seconds, a fetch whose average rate is below
//              1/slow_factor of the bandwidth the planner assumed, or at whose
//              rate the rest of the frame would arrive after the deadline, is
//              abandoned and recomputed ("too slow"); its rate (a silent server:
//              one byte) joins the bandwidth estimate, so later chunks are
//              planned for that link.
// Each is a ChunkLog note and a LoadReport count. Sources enforce what they can
// of these (chunk_source.h): a server client all of them, as bytes arrive.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/kv/recompute.h"
#include "kvforge/store/chunk_key.h"
#include "kvforge/store/chunk_signer.h"
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
  // Set (the store secret): a fetched level is used only when its MAC (the
  // source's Fetched::mac) signs these tokens at this place; an unsigned or
  // mis-signed chunk is Corruption and recomputed (store/chunk_signer.h).
  const store::ChunkSigner* signer = nullptr;
  // The slow-transfer rule (above): the grace covers a request's round trip
  // and the server's first byte; 1/8 of the planned rate is far below what any
  // healthy link misses by, and a transfer that slow would lose to recompute.
  double slow_grace_seconds = 0.5;
  double slow_factor = 8;
};

// One chunk of the load, as logged.
struct ChunkLog {
  size_t index = 0;
  size_t tokens = 0;
  std::string choice;  // level spec, or "recompute"
  // "planned", "missing", "infeasible", "corrupt: ...", "source failed: ...",
  // "deadline[: ...]", "too large: ...", "too slow: ..."
  // ("corrupt: Corruption: content mismatch: ..." for other tokens' KV)
  std::string note;
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
  size_t deadline_chunks = 0;   // recomputed: the deadline passed before they arrived
  size_t too_large_chunks = 0;  // recomputed: the answer passed the level's frame cap
  size_t too_slow_chunks = 0;   // recomputed: the slow-transfer rule abandoned them
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

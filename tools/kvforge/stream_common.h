// Pieces `kvforge load` and `kvforge bench stream` share: the planner's
// per-chunk log as a table, and load options from a calibration.
#pragma once

#include "kvforge/eval/table.h"
#include "kvforge/stream/loader.h"

namespace kvforge::cli {

// One row per chunk: chunk, tokens, choice, predicted_ms, actual_ms, fetch_ms,
// compute_ms, check_ms, bytes, est_mbps, note.
eval::Table plan_table(const stream::LoadReport& report);

stream::LoadOptions load_options(const stream::Calibration& cal, double deadline_seconds, size_t chunk_tokens);

}  // namespace kvforge::cli

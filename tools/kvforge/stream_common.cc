#include "stream_common.h"

namespace kvforge::cli {

eval::Table plan_table(const stream::LoadReport& report) {
  eval::Table table({"chunk", "tokens", "choice", "predicted_ms", "actual_ms", "fetch_ms", "compute_ms", "check_ms",
                     "bytes", "est_mbps", "note"});
  for (const stream::ChunkLog& c : report.chunks) {
    table.add({{"chunk", static_cast<int64_t>(c.index)},
               {"tokens", static_cast<int64_t>(c.tokens)},
               {"choice", c.choice},
               {"predicted_ms", c.predicted_ms},
               {"actual_ms", c.actual_ms},
               {"fetch_ms", c.fetch_ms},
               {"compute_ms", c.compute_ms},
               {"check_ms", c.check_ms},
               {"bytes", static_cast<int64_t>(c.bytes)},
               {"est_mbps", c.bandwidth_mbps},
               {"note", c.note}});
  }
  return table;
}

stream::LoadOptions load_options(const stream::Calibration& cal, double deadline_seconds, size_t chunk_tokens) {
  stream::LoadOptions o;
  o.planner.levels = cal.levels;
  o.planner.prefill_seconds_per_token = cal.prefill_seconds_per_token;
  o.planner.deadline_seconds = deadline_seconds;
  o.chunk_tokens = chunk_tokens;
  return o;
}

}  // namespace kvforge::cli

// Memory bandwidth of this machine, measured the simple way, as the yardstick
// for memory-bound work (a decode step reads every weight once).
#pragma once

#include <cstddef>

namespace kvforge::core {

struct Bandwidth {
  double copy_gbps = 0;  // bytes copied per second / 1e9 (memcpy of a large buffer)
  double read_gbps = 0;  // bytes read per second / 1e9 (a vectorized sum, n_threads)
};

// Uses buffers of `bytes` (much larger than the caches), best of `reps` runs.
Bandwidth measure_bandwidth(size_t bytes, int reps, int n_threads);

}  // namespace kvforge::core

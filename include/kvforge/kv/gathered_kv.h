// Keys and values a SlotSelector hands attention for a run of the slots it
// selected, when they come from somewhere other than the cache's KvHead (a
// slower tier behind a block cache, in retrieval attention). Attention reads
// row i of `keys`/`values` for selected[first + i] instead of head.key/value.
//
// The caller of the selector (attention) owns the buffers, one per thread, so
// the rows stay valid while that thread attends even if the selector serves
// the same head to another thread meanwhile; their capacity is reused from
// call to call.
#pragma once

#include <cstddef>
#include <vector>

namespace kvforge::kv {

struct GatheredKv {
  size_t first = 0;  // index in the selection of the first slot the rows replace
  size_t rows = 0;   // 0: the selector gathered nothing, attention reads the cache
  std::vector<float> keys;    // [rows][head_dim]
  std::vector<float> values;  // [rows][head_dim]

  void clear() { first = rows = 0; }
  // Room for `n` rows of head_dim floats replacing selection[first, first + n).
  void resize(size_t first_selected, size_t n, int head_dim) {
    first = first_selected;
    rows = n;
    keys.resize(n * static_cast<size_t>(head_dim));
    values.resize(n * static_cast<size_t>(head_dim));
  }
};

}  // namespace kvforge::kv

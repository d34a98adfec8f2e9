// Internal to pq: the vectorized loops of the scan and the top-k selection,
// compiled per SIMD target (Highway) and chosen at run time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvforge::pq::detail {

// For i in [begin, end): f_i = the `width`-bit field (width <= 24) at bit
// i * stride_bits + offset_bits of `data` (which must allow reading 4 bytes
// from any field's first byte); out[i - begin] = table[f_i], or += when `add`.
void scan_field(const uint8_t* data, size_t begin, size_t end, int stride_bits, int offset_bits, int width,
                const float* table, bool add, float* out);

// *lo, *hi = min, max of s[0, n); n >= 1.
void min_max(const float* s, size_t n, float* lo, float* hi);

// bins[i] = min(n_bins - 1, int((s[i] - lo) * inv)).
void bin_scores(const float* s, size_t n, float lo, float inv, int n_bins, int32_t* bins);

// Appends i with bins[i] > t to above (returns how many) and i with bins[i] == t
// to equal (*n_equal). Both need room for n + 16 entries.
size_t split_by_bin(const int32_t* bins, size_t n, int32_t t, int32_t* above, int32_t* equal, size_t* n_equal);

}  // namespace kvforge::pq::detail

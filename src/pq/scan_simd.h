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

// Fast scan of the 4-bit blocked layout (PackedCodes, blocks of 32 vectors of
// `rows` 32-byte rows; readable up to kNibblePadding bytes past the last
// block) with n_tables byte tables: for vectors i in [begin, end),
// out[g * out_stride + i - begin] = biases[g] + steps[g] * the sum of table g's
// entries over the vector's sub-spaces. luts: [n_tables][2][lut_stride], plane
// 0 for the low nibbles, 1 for the high ones; in plane p, bytes [32r, 32r + 16)
// and [32r + 16, 32r + 32) both hold the 16-entry table of sub-space 2r + p, and
// bytes from rows * 32 to lut_stride (>= rows * 32 + kNibblePadding) are zero.
// A vector's sum must fit in 16 bits.
inline constexpr size_t kNibblePadding = 64;
void scan_nibbles(const uint8_t* blocks, size_t rows, const uint8_t* luts, size_t lut_stride, size_t n_tables,
                  const float* steps, const float* biases, size_t begin, size_t end, float* out, size_t out_stride);

// *lo, *hi = min, max of s[0, n); n >= 1.
void min_max(const float* s, size_t n, float* lo, float* hi);

// bins[i] = min(n_bins - 1, int((s[i] - lo) * inv)).
void bin_scores(const float* s, size_t n, float lo, float inv, int n_bins, int32_t* bins);

// Appends i with bins[i] > t to above (returns how many) and i with bins[i] == t
// to equal (*n_equal). Both need room for n + 16 entries.
size_t split_by_bin(const int32_t* bins, size_t n, int32_t t, int32_t* above, int32_t* equal, size_t* n_equal);

}  // namespace kvforge::pq::detail

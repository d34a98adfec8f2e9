// Q4_0 weights repacked eight rows at a time for integer GEMM / GEMV kernels,
// as llama.cpp repacks Q4_0 at load (its q4_0_8x8 "online repacking").
//
// Row-major Q4_0 makes each 32-weight block a horizontal dot product: a few
// integer ops and a horizontal sum per block and row. Interleaved, one 256-bit
// vector holds four consecutive weights of each of eight rows, so an int8
// multiply-add against four activations broadcast to every lane advances eight
// rows at once with no horizontal sum; the eight rows' scales load as one
// vector. A prefill tile also unpacks a block's nibbles once for several tokens.
//
// Layout, per group of 8 rows (group g: rows 8g .. 8g+7), per block b in
// column order, kQ4_0x8BlockBytes = 144 bytes (= 8 Q4_0 blocks):
//   bytes 0..15:    the 8 rows' fp16 scales, row r at 2r;
//   bytes 16..143:  chunks c = 0..3 of 32 bytes; chunk c holds qs bytes 4c..4c+3
//                   of row r at 4r..4r+3 (low nibbles: elements 4c..4c+3, high
//                   nibbles: elements 16+4c .. 16+4c+3).
// The packed matrix has exactly the bytes of the row-major one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvforge/core/tensor_type.h"

namespace kvforge::core {

class ThreadPool;

inline constexpr size_t kQ4_0x8Rows = 8;
inline constexpr size_t kQ4_0x8BlockBytes = 144;

// True where the running CPU has a fast kernel for the packed layout (x86 AVX2
// and up); elsewhere keep row-major Q4_0 and matmul(), whose dots are faster there.
bool packed_q4_0_available();

// Whether a rows x cols matrix of `type` can be packed: Q4_0, rows a multiple of 8.
bool can_pack_q4_0(TensorType type, size_t rows, size_t cols);

// Repacks a row-major Q4_0 matrix (rows x cols, can_pack_q4_0) into `out`
// (rows * cols / 32 * 18 bytes).
void pack_q4_0x8(const void* w, size_t rows, size_t cols, uint8_t* out);

// Y[t][r] = W[r] . X[t] for n_tokens rows of x (row-major, cols each), with x
// quantized to q8_0 and integer block sums: the values dot_row_q8 gives on the
// row-major matrix, up to float summation order. pool may be null.
void matmul_q4_0x8(const uint8_t* packed, size_t rows, size_t cols, const float* x, size_t n_tokens, float* y,
                   ThreadPool* pool);

}  // namespace kvforge::core

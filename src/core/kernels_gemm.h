// Internal: the prefill matmul of kernels_gemm_simd.cc, which matmul() calls
// from kGemmMinTokens tokens on.
#pragma once

#include <cstddef>

#include "kvforge/core/tensor_type.h"

namespace kvforge::core {

class ThreadPool;

// Y[t][r] = W[r,:] . X[t,:]: rows dequantized a tile at a time into cache
// (never the whole matrix), fp32 register-tiled FMAs. Any type; cols a
// multiple of its block size.
void gemm_tiled(TensorType type, const void* w, size_t rows, size_t cols, const float* x, size_t n_tokens, float* y,
                ThreadPool* pool);

}  // namespace kvforge::core

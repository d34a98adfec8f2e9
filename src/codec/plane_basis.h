// Transform coding with a model profile (docs/FORMAT.md, "Profile transform").
//
// A profile frame codes each (layer, K/V) plane in a learned basis instead of in
// raw channels: y = U^T (sqrt(w) .* x), U orthonormal per block of channels, w the
// channels' importance (for keys, the mean squared query component that meets them:
// an error in channel c moves a score by q_c * error). Keys are first turned back to
// their pre-RoPE values: RoPE spins the high-frequency channel pairs by up to a
// radian per token, which hides both the channels' own statistics and their
// correlations. In the basis the channels are decorrelated and equally important, so
// one quantization step for the whole plane is the rate-distortion optimum for
// the weighted error (reverse water-filling: weak components quantize to zero).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvforge::codec {

struct PlaneBasis {
  int n_heads = 0, head_dim = 0;
  int block = 0;                  // channels per basis block; divides n_heads * head_dim
  const float* weights = nullptr;  // [n_heads * head_dim], > 0
  const float* basis = nullptr;    // [channels / block][block][block]: U[c][j], row c = channel
  float rope_theta = 0;            // > 0: un-rotate (keys) by position before the basis
};

// x and y are one plane, [head][token][head_dim]; component j of the basis is stored
// where channel j is (head j / head_dim, dim j % head_dim). Positions run from
// first_position, one per token.
void to_basis(const PlaneBasis& b, size_t n_tokens, int32_t first_position, const float* x, float* y);
void from_basis(const PlaneBasis& b, size_t n_tokens, int32_t first_position, const float* y, float* x);

// The two halves of from_basis, for a decoder that applies the basis while it writes
// values: block k's matrix M (block x block, row-major) with x_row = y_row M, weights
// folded in; and the RoPE rotation alone (a no-op unless rope_theta > 0), in place.
void backward_matrix(const PlaneBasis& b, int block_index, float* m);
void rotate_to_positions(const PlaneBasis& b, size_t n_tokens, int32_t first_position, float* x);

// Eigen-decomposition of a symmetric n x n matrix (row-major) by cyclic Jacobi
// rotations in double precision. Eigenvectors are the columns of *vectors (row-major
// [row][column]), ordered by descending eigenvalue, each signed so that its largest
// component is positive (a deterministic basis for the same input).
void symmetric_eigen(int n, std::vector<double> a, std::vector<double>* vectors, std::vector<double>* values);

}  // namespace kvforge::codec

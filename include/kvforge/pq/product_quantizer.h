// Product quantization of vectors (keys): a vector of `dim` floats is split
// into m sub-vectors of dsub = dim / m floats; each is replaced by the index
// of its nearest of ksub = 2^bits centroids, learned per sub-space by k-means.
// The code of one vector is m * bits bits; codes are stored packed
// (PackedCodes). Inner products with a query are approximated through a lookup
// table: table[j][c] = q_j . centroid[j][c], score(code) = sum_j table[j][code_j].
//
// Layouts (row-major): training data [n][dim]; centroids [m][ksub][dsub];
// lookup tables [m][ksub].
//
// Thread-safety: a trained ProductQuantizer is immutable; concurrent encode,
// decode and table calls are safe. PackedCodes needs exclusive access to append.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::core {
class ThreadPool;
}

namespace kvforge::pq {

struct KMeansOptions {
  int iterations = 20;     // Lloyd iterations after k-means++ seeding
  uint64_t seed = 1;       // sub-sampling and seeding; same seed, same centroids
  size_t max_points_per_centroid = 256;  // larger sets are sub-sampled to k * this
};

// Clusters n points of dimension d (x: [n][d]) into k centroids ([k][d], written
// to *centroids): k-means++ seeding, then Lloyd iterations; an emptied cluster is
// re-seeded on the point farthest from its centroid. With fewer distinct points
// than k, surplus centroids duplicate points. The assignment step runs on pool
// (may be null). InvalidArgument for n == 0, d < 1 or k < 1.
Status kmeans(const float* x, size_t n, int d, int k, const KMeansOptions& options, core::ThreadPool* pool,
              std::vector<float>* centroids);

// Index of the centroid ([k][d]) nearest to x in squared L2 distance.
int nearest_centroid(const float* x, const float* centroids, int k, int d);

// Supported code widths (bits per sub-space code).
inline constexpr int kSupportedBits[] = {4, 6, 8};

struct PqParams {
  int dim = 0;
  int m = 2;     // sub-spaces; must divide dim
  int bits = 6;  // per sub-space code: 4, 6 or 8
  KMeansOptions kmeans;
};

// InvalidArgument naming the parameter: dim < 1, m < 1, m not dividing dim,
// bits not in kSupportedBits.
Status validate(const PqParams& params);

// Codes of a growing set of vectors, m * bits bits of content per vector, in
// one of two layouts chosen by the width:
// - bits 6 and 8: packed little-endian bit by bit (vector i's code starts at bit
//   i * m * bits; its sub-space j occupies bits [j * bits, (j + 1) * bits) of
//   it), plus 8 bytes of read padding;
// - bits 4, the fast-scan layout: blocks of kBlock = 32 vectors, each block
//   ceil(m / 2) rows of 32 bytes; row r holds the codes of sub-spaces 2r (low
//   nibbles) and 2r + 1 (high nibbles) of the block's vectors, vector t < 16
//   at byte 2t and vector 16 + t at byte 2t + 1. A row is one SIMD register of
//   32 vectors' codes for two sub-spaces, so the scan looks 16-entry tables up
//   with byte shuffles (as FAISS's fast scan), and the interleaving lets its
//   16-bit sums of even and odd bytes come out in vector order.
class PackedCodes {
 public:
  static constexpr size_t kBlock = 32;  // vectors per block of the fast-scan layout
  static constexpr size_t kBlockPadding = 64;  // zero bytes after the last block: whole-vector reads

  PackedCodes() = default;
  PackedCodes(int m, int bits) : m_(m), bits_(bits) {}

  int m() const { return m_; }
  int bits() const { return bits_; }
  size_t size() const { return n_; }
  bool blocked() const { return bits_ == 4; }
  // Rows of 32 bytes per block (fast-scan layout).
  size_t block_rows() const { return static_cast<size_t>(m_ + 1) / 2; }
  // Bytes the codes occupy (without the read padding; whole blocks in the
  // fast-scan layout).
  size_t bytes() const;

  // Appends one vector's code: sub[j] < 2^bits for j in [0, m).
  void push(const uint16_t* sub);
  // Sub-space j's code of vector i.
  uint32_t get(size_t i, int j) const;
  const uint8_t* data() const { return bytes_.data(); }
  void clear();

 private:
  // The byte of a fast-scan row that holds vector t of its block.
  static size_t row_byte(size_t t) { return t < 16 ? 2 * t : 2 * (t - 16) + 1; }
  // `width` <= 57 bits starting at bit `pos` (bit-packed layout).
  uint64_t read_bits(size_t pos, int width) const;

  int m_ = 0;
  int bits_ = 0;
  size_t n_ = 0;
  std::vector<uint8_t> bytes_;
};

class ProductQuantizer {
 public:
  ProductQuantizer() = default;
  // Trains the m codebooks on x ([n][dim]); sub-spaces train in parallel on pool
  // (may be null). InvalidArgument from validate() or for n == 0.
  static Result<ProductQuantizer> train(const PqParams& params, const float* x, size_t n, core::ThreadPool* pool);

  int dim() const { return params_.dim; }
  int m() const { return params_.m; }
  int bits() const { return params_.bits; }
  int ksub() const { return 1 << params_.bits; }
  int dsub() const { return params_.dim / params_.m; }
  const PqParams& params() const { return params_; }
  std::span<const float> centroids() const { return centroids_; }  // [m][ksub][dsub]

  // Codes of x ([n][dim]) appended to *codes (which must have this m and bits).
  void encode(const float* x, size_t n, PackedCodes* codes) const;
  // Reconstruction of vector i of codes into out[dim].
  void decode(const PackedCodes& codes, size_t i, float* out) const;
  // table[j][c] = scale * (q_j . centroid[j][c]); table: [m][ksub].
  void ip_table(const float* q, float scale, float* table) const;

 private:
  PqParams params_;
  std::vector<float> centroids_;
};

// Approximate inner products of codes[begin, end) from a lookup table
// ([m][ksub], from ip_table): out[i - begin] = sum_j table[j][code_j(i)].
// Vectorized (Highway, chosen at run time):
// - bits 6 and 8: one pass straight over the packed codes, each lane gathering
//   its code's bytes, shifting, masking and gathering the table. Short codes
//   (m * bits <= 12) over long ranges first fold the table into one of
//   2^(m*bits) entries, so a code costs a single lookup; otherwise one pass
//   per sub-space accumulates. end * m * bits must stay below 2^32.
// - bits 4 (fast scan): the table is quantized to bytes (per sub-space offset,
//   one common step, at most 255 and at most 65535 / m per entry so 16-bit
//   sums cannot overflow), looked up 32 vectors at a time by byte shuffles and
//   summed in 16-bit lanes. Each score is then within
//   scan_ip_error_bound(table) of the float sum.
void scan_ip(const PackedCodes& codes, size_t begin, size_t end, const float* table, int ksub, float* out);
// The same for n_tables tables ([n_tables][m][ksub], e.g. the query heads of a
// GQA group) into out[n_tables][end - begin]. The fast scan reads each block of
// codes from memory once for all tables.
void scan_ip(const PackedCodes& codes, size_t begin, size_t end, const float* tables, int n_tables, int ksub,
             float* out);

// The fast scan's worst-case deviation from the exact table sum for this table
// ([m][16]): m * step / 2, the rounding of every entry.
float scan_ip_error_bound(const float* table, int m);

// The indices of the k largest scores (ties: lower index first), in no particular
// order, into *out (resized to min(k, n)). A threshold selection, no heap: the
// scores' range is cut into 2048 bins, a histogram finds the bin holding the
// k-th largest, one vectorized pass compresses the indices above it and in it,
// and only that bin is partially sorted (nth_element).
void select_top_k(std::span<const float> scores, size_t k, std::vector<int32_t>* out);

}  // namespace kvforge::pq

#include "kvforge/pq/product_quantizer.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>

#include "kvforge/core/thread_pool.h"
#include "pq/scan_simd.h"

namespace kvforge::pq {

namespace {

inline float dotf(const float* a, const float* b, int d) {
  float s = 0;
  for (int i = 0; i < d; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

Status validate(const PqParams& p) {
  if (p.dim < 1) return Status::InvalidArgument("pq: dim must be >= 1 (got " + std::to_string(p.dim) + ")");
  if (p.m < 1 || p.dim % p.m != 0) {
    return Status::InvalidArgument("pq: m=" + std::to_string(p.m) + " must be >= 1 and divide the dimension " +
                                   std::to_string(p.dim));
  }
  if (std::find(std::begin(kSupportedBits), std::end(kSupportedBits), p.bits) == std::end(kSupportedBits)) {
    return Status::InvalidArgument("pq: bits=" + std::to_string(p.bits) + " is not supported (valid: 4, 6, 8)");
  }
  if (p.kmeans.iterations < 0) return Status::InvalidArgument("pq: k-means iterations must be >= 0");
  return Status::OK();
}

// ---- PackedCodes ----

size_t PackedCodes::bytes() const {
  if (blocked()) return (n_ + kBlock - 1) / kBlock * block_rows() * kBlock;
  return (n_ * static_cast<size_t>(m_ * bits_) + 7) / 8;
}

void PackedCodes::push(const uint16_t* sub) {
  if (blocked()) {
    static_assert(kBlockPadding >= detail::kNibblePadding);
    if (n_ % kBlock == 0) bytes_.resize((n_ / kBlock + 1) * block_rows() * kBlock + kBlockPadding, 0);
    uint8_t* block = bytes_.data() + (n_ / kBlock) * block_rows() * kBlock;
    const size_t t = row_byte(n_ % kBlock);
    for (int j = 0; j < m_; ++j) {
      block[static_cast<size_t>(j / 2) * kBlock + t] |= static_cast<uint8_t>((sub[j] & 15u) << (4 * (j & 1)));
    }
    ++n_;
    return;
  }
  const size_t code_bits = static_cast<size_t>(m_ * bits_);
  size_t pos = n_ * code_bits;
  ++n_;
  bytes_.resize(bytes() + 8, 0);
  for (int j = 0; j < m_; ++j) {
    uint32_t v = sub[j];
    for (int b = 0; b < bits_; ++b, ++pos) {
      if ((v >> b) & 1u) bytes_[pos >> 3] |= static_cast<uint8_t>(1u << (pos & 7));
    }
  }
}

uint32_t PackedCodes::get(size_t i, int j) const {
  if (blocked()) {
    const uint8_t byte =
        bytes_[(i / kBlock) * block_rows() * kBlock + static_cast<size_t>(j / 2) * kBlock + row_byte(i % kBlock)];
    return (byte >> (4 * (j & 1))) & 15u;
  }
  return static_cast<uint32_t>(
      read_bits(i * static_cast<size_t>(m_ * bits_) + static_cast<size_t>(j * bits_), bits_));
}

uint64_t PackedCodes::read_bits(size_t pos, int width) const {
  uint64_t v;
  std::memcpy(&v, bytes_.data() + (pos >> 3), 8);
  return (v >> (pos & 7)) & ((uint64_t{1} << width) - 1);
}

void PackedCodes::clear() {
  n_ = 0;
  bytes_.clear();
}

// ---- ProductQuantizer ----

Result<ProductQuantizer> ProductQuantizer::train(const PqParams& params, const float* x, size_t n,
                                                 core::ThreadPool* pool) {
  KVF_RETURN_IF_ERROR(validate(params));
  if (n == 0) return Status::InvalidArgument("pq: no training vectors");
  ProductQuantizer pq;
  pq.params_ = params;
  const size_t dsub = static_cast<size_t>(pq.dsub()), ksub = static_cast<size_t>(pq.ksub());
  pq.centroids_.resize(static_cast<size_t>(params.m) * ksub * dsub);
  std::vector<float> sub(n * dsub), cent;
  for (int j = 0; j < params.m; ++j) {
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(&sub[i * dsub], x + i * static_cast<size_t>(params.dim) + j * dsub, dsub * sizeof(float));
    }
    KMeansOptions ko = params.kmeans;
    ko.seed = params.kmeans.seed + static_cast<uint64_t>(j) * 0x9E3779B97F4A7C15ull;
    KVF_RETURN_IF_ERROR(kmeans(sub.data(), n, static_cast<int>(dsub), static_cast<int>(ksub), ko, pool, &cent));
    std::copy(cent.begin(), cent.end(), pq.centroids_.begin() + static_cast<std::ptrdiff_t>(j * ksub * dsub));
  }
  return pq;
}

void ProductQuantizer::encode(const float* x, size_t n, PackedCodes* codes) const {
  const int ds = dsub(), ks = ksub();
  std::vector<uint16_t> sub(static_cast<size_t>(m()));
  for (size_t i = 0; i < n; ++i) {
    const float* xi = x + i * static_cast<size_t>(dim());
    for (int j = 0; j < m(); ++j) {
      sub[static_cast<size_t>(j)] = static_cast<uint16_t>(
          nearest_centroid(xi + j * ds, centroids_.data() + static_cast<size_t>(j) * ks * ds, ks, ds));
    }
    codes->push(sub.data());
  }
}

void ProductQuantizer::decode(const PackedCodes& codes, size_t i, float* out) const {
  const size_t ds = static_cast<size_t>(dsub()), ks = static_cast<size_t>(ksub());
  for (int j = 0; j < m(); ++j) {
    const float* c = centroids_.data() + (static_cast<size_t>(j) * ks + codes.get(i, j)) * ds;
    std::copy(c, c + ds, out + static_cast<size_t>(j) * ds);
  }
}

void ProductQuantizer::ip_table(const float* q, float scale, float* table) const {
  const int ds = dsub(), ks = ksub();
  for (int j = 0; j < m(); ++j) {
    const float* c = centroids_.data() + static_cast<size_t>(j) * ks * ds;
    for (int k = 0; k < ks; ++k) {
      table[j * ks + k] = scale * dotf(q + j * ds, c + static_cast<size_t>(k) * ds, ds);
    }
  }
}

// ---- scan ----

namespace {

// The joint table of short codes: joint[w] = sum_j table[j][(w >> j*bits) & mask].
void fold_table(const float* table, int m, int bits, std::vector<float>* joint) {
  const size_t ksub = size_t{1} << bits;
  joint->assign(table, table + ksub);
  for (int j = 1; j < m; ++j) {
    const float* t = table + static_cast<size_t>(j) * ksub;
    const size_t lo = joint->size();
    std::vector<float> next(lo * ksub);
    for (size_t c = 0; c < ksub; ++c) {
      float* row = next.data() + c * lo;
      const float tc = t[c];
      for (size_t w = 0; w < lo; ++w) row[w] = (*joint)[w] + tc;
    }
    joint->swap(next);
  }
}

// The fast scan's byte tables ([rows][32], see detail::scan_nibbles): entry =
// round((table[j][c] - min_c table[j]) / step), one step for all sub-spaces so
// entries add up; the minima add up to the bias.
struct ByteTables {
  float step = 1.0f;
  float bias = 0.0f;
};

// luts: the two planes of detail::scan_nibbles, 2 * lut_stride bytes.
ByteTables quantize_tables(const float* table, int m, size_t lut_stride, uint8_t* luts) {
  const size_t rows = static_cast<size_t>(m + 1) / 2;
  const float cap = static_cast<float>(std::min<size_t>(255, 65535 / (2 * rows)));  // 16-bit sums never overflow
  ByteTables bt;
  float widest = 0;
  for (int j = 0; j < m; ++j) {
    const float* t = table + static_cast<size_t>(j) * 16;
    const auto [lo, hi] = std::minmax_element(t, t + 16);
    widest = std::max(widest, *hi - *lo);
    bt.bias += *lo;
  }
  if (widest > 0) bt.step = widest / cap;
  if (luts == nullptr) return bt;
  std::fill(luts, luts + 2 * lut_stride, uint8_t{0});
  for (int j = 0; j < m; ++j) {
    const float* t = table + static_cast<size_t>(j) * 16;
    const float lo = *std::min_element(t, t + 16);
    uint8_t* dst = luts + static_cast<size_t>(j & 1) * lut_stride + static_cast<size_t>(j / 2) * 32;
    for (int c = 0; c < 16; ++c) {
      dst[c] = dst[16 + c] = static_cast<uint8_t>(std::min(cap, std::nearbyint((t[c] - lo) / bt.step)));
    }
  }
  return bt;
}

}  // namespace

float scan_ip_error_bound(const float* table, int m) {
  return static_cast<float>(m) * quantize_tables(table, m, 0, nullptr).step * 0.5f;
}

void scan_ip(const PackedCodes& codes, size_t begin, size_t end, const float* table, int ksub, float* out) {
  scan_ip(codes, begin, end, table, 1, ksub, out);
}

void scan_ip(const PackedCodes& codes, size_t begin, size_t end, const float* tables, int n_tables, int ksub,
             float* out) {
  const int m = codes.m(), bits = codes.bits();
  const int cb = m * bits;
  const size_t n = end - begin;
  if (n == 0 || n_tables < 1) return;
  const size_t table_floats = static_cast<size_t>(m) * static_cast<size_t>(ksub);
  if (codes.blocked()) {
    KVF_CHECK(ksub == 16);
    thread_local std::vector<uint8_t> luts;
    thread_local std::vector<float> steps, biases;
    const size_t lut_stride = codes.block_rows() * 32 + detail::kNibblePadding;
    luts.resize(static_cast<size_t>(n_tables) * 2 * lut_stride);
    steps.resize(static_cast<size_t>(n_tables));
    biases.resize(static_cast<size_t>(n_tables));
    for (int g = 0; g < n_tables; ++g) {
      const ByteTables bt = quantize_tables(tables + static_cast<size_t>(g) * table_floats, m, lut_stride,
                                            luts.data() + static_cast<size_t>(g) * 2 * lut_stride);
      steps[static_cast<size_t>(g)] = bt.step;
      biases[static_cast<size_t>(g)] = bt.bias;
    }
    detail::scan_nibbles(codes.data(), codes.block_rows(), luts.data(), lut_stride, static_cast<size_t>(n_tables),
                         steps.data(), biases.data(), begin, end, out, n);
    return;
  }
  KVF_CHECK(static_cast<uint64_t>(end) * static_cast<uint64_t>(cb) < (uint64_t{1} << 32));  // 32-bit lane offsets
  for (int g = 0; g < n_tables; ++g) {
    const float* table = tables + static_cast<size_t>(g) * table_floats;
    float* o = out + static_cast<size_t>(g) * n;
    // Short codes over long ranges: one lookup per code in the folded table.
    if (cb <= 12 && n >= (size_t{2} << cb) / static_cast<size_t>(m)) {
      thread_local std::vector<float> joint;
      fold_table(table, m, bits, &joint);
      detail::scan_field(codes.data(), begin, end, cb, 0, cb, joint.data(), /*add=*/false, o);
      continue;
    }
    // Else one pass per sub-space, accumulating into o.
    for (int j = 0; j < m; ++j) {
      detail::scan_field(codes.data(), begin, end, cb, j * bits, bits, table + static_cast<size_t>(j) * ksub, j > 0,
                         o);
    }
  }
}

}  // namespace kvforge::pq

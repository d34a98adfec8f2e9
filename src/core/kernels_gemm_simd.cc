// Prefill matmul: Y[t][r] = W[r,:] . X[t,:] for many tokens, on weights of any
// storage type, without dequantizing whole matrices.
//
// Blocking (per thread, over its share of rows):
//   - X is packed once per call, transposed into token panels: xpack[panel][k][2N],
//     the 2N tokens of a panel in vector lanes (zero-padded past n_tokens).
//   - Rows go in blocks of kBlockRows; for each K chunk of kChunk columns the
//     block's rows are dequantized (the type's SIMD dequantizer) into a small fp32
//     buffer that stays in L1/L2 — the only dequantized copy there ever is.
//   - The micro-kernel multiplies kTileRows rows by one token panel: each weight
//     is broadcast and FMA'd into 2 vectors of tokens, 2 * kTileRows accumulators
//     that live in registers for the whole chunk (no horizontal sums), kept in a
//     per-block fp32 tile between chunks and scattered to Y at the end.
// Products are fp32 on dequantized weights, as the sgemm path this replaces
// (same sum up to summation order); the inputs were already rounded to the
// weight type's activation type by the caller.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/kernels_gemm.h"
#include "kvforge/core/kernels.h"
#include "kvforge/core/status.h"
#include "kvforge/core/thread_pool.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels_gemm_simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace kvforge::core::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

size_t GemmPanelTokens() { return 2 * hn::Lanes(hn::ScalableTag<float>()); }

// ctile[i][0 .. 2N) += sum_k w[i][k] * xp[k][0 .. 2N) for i < RM.
template <size_t RM>
HWY_INLINE void TileT(const float* w, size_t w_stride, const float* xp, size_t kc, float* ctile, size_t c_stride) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  hn::Vec<decltype(d)> a0[RM], a1[RM];
  for (size_t i = 0; i < RM; ++i) {
    a0[i] = hn::LoadU(d, ctile + i * c_stride);
    a1[i] = hn::LoadU(d, ctile + i * c_stride + N);
  }
  for (size_t k = 0; k < kc; ++k, xp += 2 * N) {
    const auto x0 = hn::LoadU(d, xp), x1 = hn::LoadU(d, xp + N);
    for (size_t i = 0; i < RM; ++i) {
      const auto wv = hn::Set(d, w[i * w_stride + k]);
      a0[i] = hn::MulAdd(wv, x0, a0[i]);
      a1[i] = hn::MulAdd(wv, x1, a1[i]);
    }
  }
  for (size_t i = 0; i < RM; ++i) {
    hn::StoreU(a0[i], d, ctile + i * c_stride);
    hn::StoreU(a1[i], d, ctile + i * c_stride + N);
  }
}

// Rows [0, rm) of a block (rm <= 8) against one token panel.
void GemmTile(const float* w, size_t w_stride, size_t rm, const float* xp, size_t kc, float* ctile,
              size_t c_stride) {
  if (rm == 8) return TileT<8>(w, w_stride, xp, kc, ctile, c_stride);
  for (size_t i = 0; i < rm; ++i) TileT<1>(w + i * w_stride, w_stride, xp, kc, ctile + i * c_stride, c_stride);
}

}  // namespace kvforge::core::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace kvforge::core {
HWY_EXPORT(GemmPanelTokens);
HWY_EXPORT(GemmTile);

namespace {

constexpr size_t kTileRows = 8;     // the micro-kernel's rows (register tile)
constexpr size_t kBlockRows = 64;   // rows dequantized together; X chunks are reused across them
constexpr size_t kChunk = 256;      // columns per chunk: a multiple of every block size

struct GemmArgs {
  TensorType type;
  const uint8_t* w;
  size_t row_bytes, rows, cols;
  const float* xpack;  // [panel][cols][panel_tokens]
  size_t n_tokens, panel_tokens, n_panels;
  float* y;
};

// X (n_tokens x cols, row-major) into token panels, tokens in lanes; panels
// are independent, so a batch's are split across the pool (a transposing
// copy of the whole batch: serial, it was a visible share of 2-thread prefill).
void pack_tokens(const float* x, size_t n_tokens, size_t cols, size_t panel_tokens, std::vector<float>* out,
                 ThreadPool* pool) {
  const size_t n_panels = (n_tokens + panel_tokens - 1) / panel_tokens;
  out->resize(n_panels * cols * panel_tokens);
  float* base = out->data();
  const auto pack = [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; ++p) {
      float* panel = base + p * cols * panel_tokens;
      const size_t t0 = p * panel_tokens, nt = std::min(panel_tokens, n_tokens - t0);
      if (nt < panel_tokens) std::fill(panel, panel + cols * panel_tokens, 0.0f);  // lanes past the batch
      for (size_t t = 0; t < nt; ++t) {
        const float* src = x + (t0 + t) * cols;
        for (size_t k = 0; k < cols; ++k) panel[k * panel_tokens + t] = src[k];
      }
    }
  };
  if (pool == nullptr || pool->size() == 1 || n_panels == 1) {
    pack(0, n_panels);
  } else {
    pool->parallel_for(n_panels, pack);
  }
}

// One block of rows [r0, r0 + nr): every chunk, every panel, then Y.
void gemm_block(const GemmArgs& a, size_t r0, size_t nr, std::vector<float>& wbuf, std::vector<float>& ctile) {
  const auto tile = HWY_DYNAMIC_DISPATCH(GemmTile);
  const size_t P = a.panel_tokens, c_stride = a.n_panels * P;
  const size_t block = static_cast<size_t>(tensor_type_block_elems(a.type));
  const size_t block_bytes = static_cast<size_t>(tensor_type_block_bytes(a.type));
  ctile.assign(nr * c_stride, 0.0f);
  wbuf.resize(nr * kChunk);
  for (size_t k0 = 0; k0 < a.cols; k0 += kChunk) {
    const size_t kc = std::min(kChunk, a.cols - k0);
    const uint8_t* src = a.w + r0 * a.row_bytes + k0 / block * block_bytes;
    if (a.type == TensorType::kF32) {
      for (size_t i = 0; i < nr; ++i) std::memcpy(&wbuf[i * kChunk], src + i * a.row_bytes, kc * sizeof(float));
    } else {
      for (size_t i = 0; i < nr; ++i) dequantize_row(a.type, src + i * a.row_bytes, &wbuf[i * kChunk], kc);
    }
    for (size_t p = 0; p < a.n_panels; ++p) {
      const float* xp = a.xpack + (p * a.cols + k0) * P;
      for (size_t i = 0; i < nr; i += kTileRows) {
        tile(&wbuf[i * kChunk], kChunk, std::min(kTileRows, nr - i), xp, kc, &ctile[i * c_stride + p * P], c_stride);
      }
    }
  }
  // Token-major: each token's nr outputs are one contiguous run of Y.
  for (size_t t = 0; t < a.n_tokens; ++t) {
    float* out = a.y + t * a.rows + r0;
    for (size_t i = 0; i < nr; ++i) out[i] = ctile[i * c_stride + t];
  }
}

}  // namespace

void gemm_tiled(TensorType type, const void* w, size_t rows, size_t cols, const float* x, size_t n_tokens, float* y,
                ThreadPool* pool) {
  const size_t block = static_cast<size_t>(tensor_type_block_elems(type));
  KVF_CHECK(cols % block == 0 && (block == 1 || kChunk % block == 0));
  thread_local std::vector<float> xpack;
  const size_t P = HWY_DYNAMIC_DISPATCH(GemmPanelTokens)();
  pack_tokens(x, n_tokens, cols, P, &xpack, pool);
  const GemmArgs args{type,     static_cast<const uint8_t*>(w), cols / block * tensor_type_block_bytes(type),
                      rows,     cols,
                      xpack.data(), n_tokens,
                      P,        (n_tokens + P - 1) / P,
                      y};
  const size_t n_blocks = (rows + kBlockRows - 1) / kBlockRows;
  const auto run = [&args](size_t b0, size_t b1) {
    thread_local std::vector<float> wbuf, ctile;
    for (size_t b = b0; b < b1; ++b) {
      const size_t r0 = b * kBlockRows;
      gemm_block(args, r0, std::min(kBlockRows, args.rows - r0), wbuf, ctile);
    }
  };
  if (pool == nullptr || pool->size() == 1 || n_blocks == 1) {
    run(0, n_blocks);
    return;
  }
  pool->parallel_for(n_blocks, run, 1);
}

}  // namespace kvforge::core
#endif  // HWY_ONCE

// The one dense KV layout every module speaks: K and V are each
// [layer][kv_head][token][head_dim], row-major. The KV cache exports and
// imports it (kv::DenseKv), codecs encode and decode it (codec::KvChunk), and
// the loader hands decoded chunks to the cache without converting. It lives in
// core because codec and kv do not depend on each other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace kvforge::core {

struct KvShape {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  bool operator==(const KvShape&) const = default;
  // Floats (or halves) in one of K or V for n_tokens tokens.
  size_t elements(size_t n_tokens) const {
    return static_cast<size_t>(n_layers) * n_kv_heads * n_tokens * head_dim;
  }
};

// Offset of (layer, head, token)'s row in a [layer][kv_head][token][head_dim] buffer.
inline size_t kv_index(const KvShape& shape, size_t n_tokens, int layer, int head, size_t token) {
  return ((static_cast<size_t>(layer) * shape.n_kv_heads + head) * n_tokens + token) * shape.head_dim;
}

// Non-owning view; k and v each point at shape.elements(n_tokens) values (may
// be null when that is 0).
template <typename T>
struct KvTensorView {
  KvShape shape;
  size_t n_tokens = 0;
  const T* k = nullptr;
  const T* v = nullptr;
  size_t elements() const { return shape.elements(n_tokens); }
  size_t index(int layer, int head, size_t token) const { return kv_index(shape, n_tokens, layer, head, token); }
};

// Owning tensor. positions[t] is token t's position where the producer knows it
// (a cache export does; a decoded frame leaves it empty).
template <typename T>
struct KvTensor {
  KvShape shape;
  size_t n_tokens = 0;
  std::vector<int32_t> positions;
  std::vector<T> k;
  std::vector<T> v;
  size_t elements() const { return shape.elements(n_tokens); }
  size_t index(int layer, int head, size_t token) const { return kv_index(shape, n_tokens, layer, head, token); }
  KvTensorView<T> view() const { return {shape, n_tokens, k.data(), v.data()}; }
  // Resizes k and v for shape and n_tokens (contents unspecified).
  void allocate() {
    k.resize(elements());
    v.resize(elements());
  }
  // Positions first, first + 1, ... for every token.
  void assign_positions(int32_t first) {
    positions.resize(n_tokens);
    for (size_t t = 0; t < n_tokens; ++t) positions[t] = first + static_cast<int32_t>(t);
  }
};

// Tokens [begin, end) of a tensor (positions too, where it has them).
template <typename T>
KvTensor<T> slice_tokens(const KvTensor<T>& in, size_t begin, size_t end) {
  KvTensor<T> out;
  out.shape = in.shape;
  out.n_tokens = end - begin;
  if (in.positions.size() == in.n_tokens) {
    out.positions.assign(in.positions.begin() + static_cast<std::ptrdiff_t>(begin),
                         in.positions.begin() + static_cast<std::ptrdiff_t>(end));
  }
  out.allocate();
  const size_t row_bytes = out.n_tokens * static_cast<size_t>(in.shape.head_dim) * sizeof(T);
  for (int l = 0; l < in.shape.n_layers; ++l) {
    for (int h = 0; h < in.shape.n_kv_heads; ++h) {
      std::memcpy(out.k.data() + out.index(l, h, 0), in.k.data() + in.index(l, h, begin), row_bytes);
      std::memcpy(out.v.data() + out.index(l, h, 0), in.v.data() + in.index(l, h, begin), row_bytes);
    }
  }
  return out;
}

}  // namespace kvforge::core

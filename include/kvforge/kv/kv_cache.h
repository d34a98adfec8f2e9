// The KV cache: per layer and kv head, a set of live token slots, each holding
// the token's position, its key and its value (head_dim floats each, post-RoPE
// keys). Slots are appended, removed one by one or in bulk (eviction), and
// gathered by slot list (retrieval). Removed slots are reused by later appends,
// so memory stays bounded by the number of live tokens.
//
// Dense exchange layout, used by export/import and the codec:
//   [layer][kv_head][token][head_dim], row-major.
//
// Thread-safety: a KvCache is owned by one Session; concurrent reads of
// different heads are safe, any mutation needs exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "kvforge/core/kv_tensor.h"
#include "kvforge/core/status.h"

namespace kvforge::kv {

// How slots store keys and values. F16 halves the cache (llama.cpp's default);
// attention over it computes as llama.cpp's does (kv/attention.h).
enum class KvType { kF32, kF16 };
std::string_view kv_type_name(KvType type);
// "f32" or "f16"; InvalidArgument naming the choices otherwise.
Result<KvType> parse_kv_type(std::string_view name);
size_t kv_type_bytes(KvType type);

using core::KvShape;

// One (layer, kv head): its live slots in insertion order (which is also
// position order, since tokens are appended with increasing positions).
class KvHead {
 public:
  explicit KvHead(int head_dim = 0, KvType type = KvType::kF32) : head_dim_(head_dim), type_(type) {}

  int head_dim() const { return head_dim_; }
  KvType type() const { return type_; }
  // Number of live slots.
  size_t size() const { return live_.size(); }
  // Slots allocated (live + free), i.e. what the buffers hold room for.
  size_t slot_capacity() const { return positions_.size(); }
  // Live slot ids, insertion (= position) order.
  std::span<const int32_t> live_slots() const { return live_; }

  // A slot's row in its storage type: key()/value() on an F32 head,
  // key_f16()/value_f16() on an F16 one (checked).
  const float* key(int32_t slot) const;
  const float* value(int32_t slot) const;
  const uint16_t* key_f16(int32_t slot) const;
  const uint16_t* value_f16(int32_t slot) const;
  // An F16 head's storage: slot s's row at [s * head_dim, (s + 1) * head_dim).
  const uint16_t* keys_f16() const { return keys16_.data(); }
  const uint16_t* values_f16() const { return values16_.data(); }
  // A slot's key or value as fp32, whatever the storage.
  void read_key(int32_t slot, float* out) const;
  void read_value(int32_t slot, float* out) const;
  int32_t position(int32_t slot) const { return positions_[static_cast<size_t>(slot)]; }
  bool is_live(int32_t slot) const;

  // Stores a token; returns its slot (a freed one when available). Positions
  // must not decrease along appends (attention relies on it for causality).
  int32_t append(int32_t position, const float* key, const float* value);
  // Removes slots (any order, no duplicates); InvalidArgument if one is not live,
  // in which case nothing is removed.
  Status remove(std::span<const int32_t> slots);
  // Copies the keys and values of `slots` into k_out/v_out ([slots.size()][head_dim]), as fp32.
  Status gather(std::span<const int32_t> slots, float* k_out, float* v_out) const;
  // Number of leading live slots whose position is <= `position`.
  size_t count_visible(int32_t position) const;
  void clear();
  void reserve(size_t n_slots);

 private:
  void grow_rows();

  int head_dim_;
  KvType type_;
  std::vector<float> keys_;  // F32 storage
  std::vector<float> values_;
  std::vector<uint16_t> keys16_;  // F16 storage (IEEE binary16 bits)
  std::vector<uint16_t> values16_;
  std::vector<int32_t> positions_;
  std::vector<int32_t> live_;
  std::vector<int32_t> free_;
  std::vector<uint8_t> live_flag_;
};

// A dense copy of a token range, in the layout codecs take (core/kv_tensor.h).
template <typename T>
using DenseKv = core::KvTensor<T>;
using DenseKvF32 = DenseKv<float>;
using DenseKvF16 = DenseKv<uint16_t>;  // IEEE binary16 bits

class KvCache {
 public:
  KvCache() = default;
  explicit KvCache(KvShape shape, KvType type = KvType::kF32);

  const KvShape& shape() const { return shape_; }
  KvType type() const { return type_; }
  KvHead& head(int layer, int kv_head) { return heads_[index(layer, kv_head)]; }
  const KvHead& head(int layer, int kv_head) const { return heads_[index(layer, kv_head)]; }

  // The position the next appended token gets. Eviction does not change it.
  int32_t next_position() const { return next_position_; }
  void set_next_position(int32_t p) { next_position_ = p; }

  // Live tokens summed over all heads / per head at most.
  size_t total_slots() const;
  size_t max_head_size() const;
  // Bytes of keys and values held by live slots, in the storage type: what
  // llama.cpp's KV cache holds for the same tokens (its figure for K+V).
  size_t bytes_live() const;
  // Bytes of the int32 position each live slot also keeps (per slot and head,
  // since eviction leaves heads with different tokens); llama.cpp has no such
  // field, so it is reported apart from bytes_live().
  size_t position_bytes_live() const;
  // Bytes allocated: keys, values, positions and live flags of every slot,
  // including free slots kept for reuse.
  size_t bytes_allocated() const;
  // K+V bytes one token costs across all layers and heads, at `bytes_per_element`
  // (4: fp32, 2: fp16) or in a storage type: n_layers * n_kv_heads * head_dim * 2 * bytes.
  static size_t bytes_per_token(const KvShape& shape, size_t bytes_per_element);
  static size_t bytes_per_token(const KvShape& shape, KvType type);
  size_t bytes_per_token() const { return bytes_per_token(shape_, type_); }
  // Position bytes one token costs across all layers and heads (int32 per head).
  static size_t position_bytes_per_token(const KvShape& shape);

  void clear();
  void reserve(size_t tokens_per_head);
  // Keeps the first `n_tokens` live tokens of every head (the prefix a later
  // request shares) and continues after the last one kept. OutOfRange when a
  // head holds fewer; nothing is changed then.
  Status truncate(size_t n_tokens);

  // Copies live tokens with indices [begin, end) in each head's live order. All
  // heads must hold at least `end` live tokens (OutOfRange otherwise).
  Status export_range(size_t begin, size_t end, DenseKvF32* out) const;
  Status export_range(size_t begin, size_t end, DenseKvF16* out) const;
  // Appends every token of `in` to every head; `in.shape` must equal shape()
  // (InvalidArgument naming both). next_position becomes max(position)+1.
  Status import_tokens(const DenseKvF32& in);
  Status import_tokens(const DenseKvF16& in);

 private:
  size_t index(int layer, int kv_head) const {
    return static_cast<size_t>(layer) * shape_.n_kv_heads + kv_head;
  }
  template <typename T>
  Status export_impl(size_t begin, size_t end, DenseKv<T>* out) const;
  template <typename T>
  Status import_impl(const DenseKv<T>& in);

  KvShape shape_;
  KvType type_ = KvType::kF32;
  std::vector<KvHead> heads_;
  int32_t next_position_ = 0;
};

}  // namespace kvforge::kv

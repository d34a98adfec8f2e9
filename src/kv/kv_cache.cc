#include "kvforge/kv/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "kvforge/core/half.h"

namespace kvforge::kv {

std::string_view kv_type_name(KvType type) { return type == KvType::kF16 ? "f16" : "f32"; }

Result<KvType> parse_kv_type(std::string_view name) {
  if (name == "f32") return KvType::kF32;
  if (name == "f16") return KvType::kF16;
  return Status::InvalidArgument("unknown KV cache type '" + std::string(name) + "' (choices: f16, f32)");
}

size_t kv_type_bytes(KvType type) { return type == KvType::kF16 ? 2 : 4; }

const float* KvHead::key(int32_t slot) const {
  KVF_CHECK(type_ == KvType::kF32);
  return keys_.data() + static_cast<size_t>(slot) * head_dim_;
}

const float* KvHead::value(int32_t slot) const {
  KVF_CHECK(type_ == KvType::kF32);
  return values_.data() + static_cast<size_t>(slot) * head_dim_;
}

const uint16_t* KvHead::key_f16(int32_t slot) const {
  KVF_CHECK(type_ == KvType::kF16);
  return keys16_.data() + static_cast<size_t>(slot) * head_dim_;
}

const uint16_t* KvHead::value_f16(int32_t slot) const {
  KVF_CHECK(type_ == KvType::kF16);
  return values16_.data() + static_cast<size_t>(slot) * head_dim_;
}

void KvHead::read_key(int32_t slot, float* out) const {
  if (type_ == KvType::kF16) return core::fp16_to_f32_row(key_f16(slot), out, static_cast<size_t>(head_dim_));
  std::memcpy(out, key(slot), sizeof(float) * head_dim_);
}

void KvHead::read_value(int32_t slot, float* out) const {
  if (type_ == KvType::kF16) return core::fp16_to_f32_row(value_f16(slot), out, static_cast<size_t>(head_dim_));
  std::memcpy(out, value(slot), sizeof(float) * head_dim_);
}

void KvHead::grow_rows() {
  if (type_ == KvType::kF16) {
    keys16_.resize(keys16_.size() + head_dim_);
    values16_.resize(values16_.size() + head_dim_);
  } else {
    keys_.resize(keys_.size() + head_dim_);
    values_.resize(values_.size() + head_dim_);
  }
}

bool KvHead::is_live(int32_t slot) const {
  return slot >= 0 && static_cast<size_t>(slot) < live_flag_.size() && live_flag_[slot] != 0;
}

int32_t KvHead::append(int32_t position, const float* key, const float* value) {
  int32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
    positions_[slot] = position;
  } else {
    slot = static_cast<int32_t>(positions_.size());
    positions_.push_back(position);
    grow_rows();
    live_flag_.push_back(0);
  }
  const size_t off = static_cast<size_t>(slot) * head_dim_;
  if (type_ == KvType::kF16) {
    core::f32_to_fp16_row(key, keys16_.data() + off, static_cast<size_t>(head_dim_));
    core::f32_to_fp16_row(value, values16_.data() + off, static_cast<size_t>(head_dim_));
  } else {
    std::memcpy(keys_.data() + off, key, sizeof(float) * head_dim_);
    std::memcpy(values_.data() + off, value, sizeof(float) * head_dim_);
  }
  live_flag_[slot] = 1;
  live_.push_back(slot);
  return slot;
}

Status KvHead::remove(std::span<const int32_t> slots) {
  // Validate first so that a bad list leaves the head untouched; the flag value
  // 2 marks "to remove", which also exposes duplicates in O(n).
  for (size_t i = 0; i < slots.size(); ++i) {
    const int32_t s = slots[i];
    const bool duplicate = s >= 0 && static_cast<size_t>(s) < live_flag_.size() && live_flag_[s] == 2;
    if (duplicate || !is_live(s)) {
      for (size_t r = 0; r < i; ++r) live_flag_[slots[r]] = 1;
      return Status::InvalidArgument("cannot remove slot " + std::to_string(s) +
                                     (duplicate ? ": listed twice" : ": not a live slot"));
    }
    live_flag_[s] = 2;
  }
  // One compaction pass keeps the live list in position order.
  size_t w = 0;
  for (int32_t s : live_) {
    if (live_flag_[s] == 2) {
      live_flag_[s] = 0;
      free_.push_back(s);
    } else {
      live_[w++] = s;
    }
  }
  live_.resize(w);
  return Status::OK();
}

Status KvHead::gather(std::span<const int32_t> slots, float* k_out, float* v_out) const {
  for (int32_t s : slots) {
    if (!is_live(s)) return Status::InvalidArgument("cannot gather slot " + std::to_string(s) + ": not a live slot");
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    read_key(slots[i], k_out + i * head_dim_);
    read_value(slots[i], v_out + i * head_dim_);
  }
  return Status::OK();
}

size_t KvHead::count_visible(int32_t position) const {
  // live_ is in position order, so the visible ones form a prefix.
  auto it = std::upper_bound(live_.begin(), live_.end(), position,
                             [this](int32_t p, int32_t slot) { return p < positions_[slot]; });
  return static_cast<size_t>(it - live_.begin());
}

void KvHead::clear() {
  keys_.clear();
  values_.clear();
  keys16_.clear();
  values16_.clear();
  positions_.clear();
  live_.clear();
  free_.clear();
  live_flag_.clear();
}

void KvHead::reserve(size_t n_slots) {
  if (type_ == KvType::kF16) {
    keys16_.reserve(n_slots * head_dim_);
    values16_.reserve(n_slots * head_dim_);
  } else {
    keys_.reserve(n_slots * head_dim_);
    values_.reserve(n_slots * head_dim_);
  }
  positions_.reserve(n_slots);
  live_.reserve(n_slots);
  live_flag_.reserve(n_slots);
}

KvCache::KvCache(KvShape shape, KvType type) : shape_(shape), type_(type) {
  heads_.assign(static_cast<size_t>(shape.n_layers) * shape.n_kv_heads, KvHead(shape.head_dim, type));
}

size_t KvCache::total_slots() const {
  size_t n = 0;
  for (const auto& h : heads_) n += h.size();
  return n;
}

size_t KvCache::max_head_size() const {
  size_t n = 0;
  for (const auto& h : heads_) n = std::max(n, h.size());
  return n;
}

size_t KvCache::bytes_live() const { return total_slots() * 2 * kv_type_bytes(type_) * shape_.head_dim; }

size_t KvCache::position_bytes_live() const { return total_slots() * sizeof(int32_t); }

size_t KvCache::bytes_allocated() const {
  size_t n = 0;
  for (const auto& h : heads_) n += h.slot_capacity();
  return n * (2 * kv_type_bytes(type_) * shape_.head_dim + sizeof(int32_t) + 1);
}

size_t KvCache::bytes_per_token(const KvShape& shape, size_t bytes_per_element) {
  return shape.elements(1) * 2 * bytes_per_element;
}

size_t KvCache::bytes_per_token(const KvShape& shape, KvType type) {
  return bytes_per_token(shape, kv_type_bytes(type));
}

size_t KvCache::position_bytes_per_token(const KvShape& shape) {
  return static_cast<size_t>(shape.n_layers) * shape.n_kv_heads * sizeof(int32_t);
}

void KvCache::clear() {
  for (auto& h : heads_) h.clear();
  next_position_ = 0;
}

Status KvCache::truncate(size_t n_tokens) {
  for (const KvHead& h : heads_) {
    if (h.size() < n_tokens) {
      return Status::OutOfRange("cannot keep " + std::to_string(n_tokens) + " tokens of a head holding " +
                                std::to_string(h.size()));
    }
  }
  if (n_tokens == 0) {
    clear();
    return Status::OK();
  }
  int32_t next = 0;
  std::vector<int32_t> drop;
  for (KvHead& h : heads_) {
    const auto live = h.live_slots();
    next = std::max(next, h.position(live[n_tokens - 1]) + 1);
    drop.assign(live.begin() + static_cast<std::ptrdiff_t>(n_tokens), live.end());
    KVF_RETURN_IF_ERROR(h.remove(drop));
  }
  next_position_ = next;
  return Status::OK();
}

void KvCache::reserve(size_t tokens_per_head) {
  for (auto& h : heads_) h.reserve(tokens_per_head);
}

namespace {
// A slot's row into a dense array of T: copied when the storage already is T,
// converted otherwise.
void store_key(const KvHead& h, int32_t slot, float* dst) { h.read_key(slot, dst); }
void store_value(const KvHead& h, int32_t slot, float* dst) { h.read_value(slot, dst); }
void store_key(const KvHead& h, int32_t slot, uint16_t* dst) {
  const size_t n = static_cast<size_t>(h.head_dim());
  if (h.type() == KvType::kF16) {
    std::memcpy(dst, h.key_f16(slot), n * sizeof(uint16_t));
  } else {
    core::f32_to_fp16_row(h.key(slot), dst, n);
  }
}
void store_value(const KvHead& h, int32_t slot, uint16_t* dst) {
  const size_t n = static_cast<size_t>(h.head_dim());
  if (h.type() == KvType::kF16) {
    std::memcpy(dst, h.value_f16(slot), n * sizeof(uint16_t));
  } else {
    core::f32_to_fp16_row(h.value(slot), dst, n);
  }
}
inline const float* load(const float* src, size_t, std::vector<float>*) { return src; }
inline const float* load(const uint16_t* src, size_t n, std::vector<float>* tmp) {
  tmp->resize(n);
  core::fp16_to_f32_row(src, tmp->data(), n);
  return tmp->data();
}
}  // namespace

template <typename T>
Status KvCache::export_impl(size_t begin, size_t end, DenseKv<T>* out) const {
  if (begin > end) return Status::InvalidArgument("export range begins after it ends");
  for (int l = 0; l < shape_.n_layers; ++l) {
    for (int h = 0; h < shape_.n_kv_heads; ++h) {
      if (head(l, h).size() < end) {
        return Status::OutOfRange("export range [" + std::to_string(begin) + ", " + std::to_string(end) +
                                  ") exceeds the " + std::to_string(head(l, h).size()) + " live tokens of layer " +
                                  std::to_string(l) + " kv head " + std::to_string(h));
      }
    }
  }
  const size_t n = end - begin;
  const size_t hd = shape_.head_dim;
  out->shape = shape_;
  out->n_tokens = n;
  out->k.resize(static_cast<size_t>(shape_.n_layers) * shape_.n_kv_heads * n * hd);
  out->v.resize(out->k.size());
  out->positions.resize(n);
  for (int l = 0; l < shape_.n_layers; ++l) {
    for (int h = 0; h < shape_.n_kv_heads; ++h) {
      const KvHead& kh = head(l, h);
      auto live = kh.live_slots();
      for (size_t t = 0; t < n; ++t) {
        const int32_t slot = live[begin + t];
        store_key(kh, slot, out->k.data() + out->index(l, h, t));
        store_value(kh, slot, out->v.data() + out->index(l, h, t));
        if (l == 0 && h == 0) out->positions[t] = kh.position(slot);
      }
    }
  }
  return Status::OK();
}

template <typename T>
Status KvCache::import_impl(const DenseKv<T>& in) {
  const KvShape& s = in.shape;
  if (s.n_layers != shape_.n_layers || s.n_kv_heads != shape_.n_kv_heads || s.head_dim != shape_.head_dim) {
    return Status::InvalidArgument(
        "KV shape mismatch: data has " + std::to_string(s.n_layers) + " layers x " + std::to_string(s.n_kv_heads) +
        " kv heads x head_dim " + std::to_string(s.head_dim) + ", cache has " + std::to_string(shape_.n_layers) +
        " x " + std::to_string(shape_.n_kv_heads) + " x " + std::to_string(shape_.head_dim));
  }
  const size_t hd = s.head_dim;
  const size_t expect = static_cast<size_t>(s.n_layers) * s.n_kv_heads * in.n_tokens * hd;
  if (in.k.size() != expect || in.v.size() != expect || in.positions.size() != in.n_tokens) {
    return Status::InvalidArgument("KV data arrays do not match their declared shape (" + std::to_string(in.n_tokens) +
                                   " tokens)");
  }
  for (size_t t = 1; t < in.n_tokens; ++t) {
    if (in.positions[t] < in.positions[t - 1]) return Status::InvalidArgument("KV token positions must not decrease");
  }
  if (in.n_tokens > 0 && in.positions[0] < next_position_ && total_slots() > 0) {
    return Status::InvalidArgument("imported tokens start at position " + std::to_string(in.positions[0]) +
                                   ", before the cache's next position " + std::to_string(next_position_));
  }
  std::vector<float> tk, tv;
  for (int l = 0; l < s.n_layers; ++l) {
    for (int h = 0; h < s.n_kv_heads; ++h) {
      KvHead& kh = head(l, h);
      for (size_t t = 0; t < in.n_tokens; ++t) {
        const float* k = load(in.k.data() + in.index(l, h, t), hd, &tk);
        const float* v = load(in.v.data() + in.index(l, h, t), hd, &tv);
        kh.append(in.positions[t], k, v);
      }
    }
  }
  if (in.n_tokens > 0) next_position_ = std::max(next_position_, in.positions.back() + 1);
  return Status::OK();
}

Status KvCache::export_range(size_t begin, size_t end, DenseKvF32* out) const { return export_impl(begin, end, out); }
Status KvCache::export_range(size_t begin, size_t end, DenseKvF16* out) const { return export_impl(begin, end, out); }
Status KvCache::import_tokens(const DenseKvF32& in) { return import_impl(in); }
Status KvCache::import_tokens(const DenseKvF16& in) { return import_impl(in); }

}  // namespace kvforge::kv

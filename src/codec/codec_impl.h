// Private: the hooks a codec implements. The frame driver (frame.cc) owns the
// header, section index, checksums and threading; a codec only turns one layer
// (K and V of all kv heads, [kv_head][token][head_dim]) into a section and back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "codec/frame_format.h"
#include "kvforge/codec/codec.h"

namespace kvforge::codec {

struct SectionCtx {
  KvShape shape;
  size_t n_tokens = 0;
  int layer = 0;
  uint32_t param = 0;               // header codec parameter
  const Profile* profile = nullptr;  // set when the frame uses one
  int32_t first_position = 0;        // position of the chunk's first token
  size_t layer_elements() const {
    return static_cast<size_t>(shape.n_kv_heads) * n_tokens * shape.head_dim;
  }
};

class CodecImpl : public Codec {
 public:
  virtual uint8_t codec_id() const = 0;
  virtual uint8_t level_id() const { return 0; }
  virtual uint32_t param() const { return 0; }
  virtual bool supports_profile() const { return false; }
  // Upper bound of one layer section's size.
  virtual size_t max_section_bytes(const KvShape& shape, size_t n_tokens) const = 0;
  // k, v: one layer, layer_elements() floats each. Appends to *out.
  virtual Status encode_section(const SectionCtx& ctx, const float* k, const float* v,
                                std::string* out) const = 0;
  // in: exactly the section bytes. Any inconsistency is Corruption.
  virtual Status decode_section(const SectionCtx& ctx, std::string_view in, float* k,
                                float* v) const = 0;
};

// Registry internals (registry.cc).
Result<std::unique_ptr<CodecImpl>> make_codec_impl(std::string_view spec);
Result<std::unique_ptr<CodecImpl>> make_codec_from_ids(uint8_t codec_id, uint8_t level_id, uint32_t param);

// Constructors of the implementations.
std::unique_ptr<CodecImpl> new_fp16();
std::unique_ptr<CodecImpl> new_q8();
std::unique_ptr<CodecImpl> new_q4();
std::unique_ptr<CodecImpl> new_kivi2(int residual);
std::unique_ptr<CodecImpl> new_zstd(int level);
std::unique_ptr<CodecImpl> new_cachegen_ref();
std::unique_ptr<CodecImpl> new_cachegen(int level, int delta_mode);

// fp16 helpers that round toward +inf / -inf (so a stored scale never shrinks the range).
uint16_t fp16_ceil(float x);
uint16_t fp16_floor(float x);

}  // namespace kvforge::codec

// KV-cache codecs: turn a dense KV chunk into a self-describing, checksummed
// frame (docs/FORMAT.md) and back. One small interface, many implementations
// chosen by a string (FAISS-style):
//
//   auto c = codec::make_codec("cachegen:level=2");   // or "q8", "zstd:level=3", ...
//   auto frame = (*c)->encode(view, {.model_fingerprint = fp});
//   codec::KvChunk out;  Status s = (*c)->decode(*frame, &out, {.expected_fingerprint = fp});
//
// Layout (stated once): K and V are [layer][kv_head][token][head_dim], row-major
// fp32, n_layers * n_kv_heads * n_tokens * head_dim floats each: core::KvTensor,
// the type kv::KvCache exports, so `dense.view()` is what encode takes.
//
// Thread-safety: Codec objects are immutable after construction; encode/decode
// may run concurrently on one object. A ThreadPool passed in the options is used
// by one call at a time (ThreadPool::parallel_for is single-caller).
// Failure: encode returns a Status and no frame; decode on failure leaves *out
// with unspecified contents (resized, partly written).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/kv_tensor.h"
#include "kvforge/core/status.h"

namespace kvforge::core {
class ThreadPool;
}

namespace kvforge::codec {

class Profile;

// A chunk is the KV layout every module speaks (core/kv_tensor.h): a codec
// encodes a view and decodes into an owning tensor (positions left empty).
using core::KvShape;
using KvChunkView = core::KvTensorView<float>;
using KvChunk = core::KvTensor<float>;

struct EncodeOptions {
  // Identifies the model the KV came from (caller-defined, e.g. a hash of the
  // weights file). Stored in the frame; decoders may demand a match.
  uint64_t model_fingerprint = 0;
  // Optional: layers are encoded in parallel on this pool. Default: serial.
  core::ThreadPool* pool = nullptr;
  // Optional (cachegen only): code symbols with this model profile's tables
  // instead of shipping tables in the frame. The decoder needs the same profile.
  const Profile* profile = nullptr;
  // Position of the chunk's first token (0..2^30). Stored in the frame; a profile
  // that codes keys before RoPE needs it to undo and redo the rotation.
  int32_t first_position = 0;
};

struct DecodeOptions {
  // When set, a frame whose model fingerprint differs is rejected (InvalidArgument).
  std::optional<uint64_t> expected_fingerprint;
  core::ThreadPool* pool = nullptr;
  // Required for frames encoded with a profile (their header names its id).
  const Profile* profile = nullptr;
};

// What a frame header says, read without decoding (zstd's getFrameContentSize spirit).
struct FrameInfo {
  uint16_t format_version = 0;
  std::string codec;        // registry name, e.g. "cachegen"
  std::string level;        // level string ("" for codecs without levels)
  std::string spec;         // "cachegen:level=2", accepted by make_codec
  KvShape shape;
  size_t n_tokens = 0;
  uint64_t model_fingerprint = 0;
  uint64_t profile_id = 0;  // 0: no profile
  uint32_t flags = 0;
  uint32_t first_position = 0;
  size_t header_bytes = 0;  // fixed header + section index + header checksum
  size_t frame_bytes = 0;   // whole frame, as the header declares it
  // Section i holds layer i: bytes [section_offset[i], section_offset[i] + section_size[i])
  // of the frame. A streaming client can decode layer i once those bytes arrived.
  std::vector<uint64_t> section_offset;
  std::vector<uint64_t> section_size;
};

class Codec {
 public:
  virtual ~Codec() = default;
  // Registry name ("q8") and level ("" or e.g. "2"); spec() joins them as make_codec takes them.
  virtual std::string name() const = 0;
  virtual std::string level() const = 0;
  std::string spec() const;

  // Encodes a whole chunk into one frame. InvalidArgument for a bad shape, a value
  // that is not finite or beyond fp16's range (|x| > 65504), or limits exceeded
  // (docs/FORMAT.md).
  Result<std::string> encode(const KvChunkView& chunk, const EncodeOptions& opts = {}) const;
  // Decodes a whole frame produced by this codec (same name and level, else
  // InvalidArgument). Corruption for any damaged, truncated or padded frame, and for
  // one whose metadata or decoded K or V holds a NaN or Inf: decoded values are finite.
  Status decode(std::string_view frame, KvChunk* out, const DecodeOptions& opts = {}) const;
  // Decodes one layer from a frame prefix that holds at least the header and that
  // layer's section (see FrameInfo). k and v receive n_kv_heads * n_tokens * head_dim
  // floats each ([kv_head][token][head_dim]).
  Status decode_layer(std::string_view frame_prefix, int layer, float* k, float* v,
                      const DecodeOptions& opts = {}) const;

 protected:
  friend struct CodecAccess;
  Codec() = default;
};

// "name" or "name:key=value[,key=value]". Names: codec_names(). Keys: "level"
// (values: levels(name)), and for kivi2 also "residual" (0..32). Unknown names,
// keys or values give InvalidArgument listing the valid ones.
Result<std::unique_ptr<Codec>> make_codec(std::string_view spec);
// fp16, q8, q4, kivi2, zstd, cachegen-ref, cachegen.
std::vector<std::string> codec_names();
// Valid level strings of a codec, most faithful first ({} when it has none).
std::vector<std::string> levels(std::string_view name);
// Default level of a codec ("" when it has none).
std::string default_level(std::string_view name);

// Reads and verifies (magic, header checksum, limits) a frame's header from its
// first bytes: the header size is 64 + 24 * n_layers + 8 bytes. Corruption on damage,
// NotSupported for an unknown format version or codec id.
Result<FrameInfo> peek_header(std::string_view bytes);
// Decodes any frame with the codec its header names.
Status decode_frame(std::string_view frame, KvChunk* out, const DecodeOptions& opts = {});
// Worst-case frame size for a chunk of this shape under `spec` (callers may
// allocate from it). InvalidArgument for a bad spec or shape.
Result<size_t> max_encoded_size(const KvShape& shape, size_t n_tokens, std::string_view spec);

}  // namespace kvforge::codec

// libFuzzer target: decode_frame over arbitrary bytes. It must return a Status,
// never crash; a frame that decodes must describe the shape its header declares.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kvforge/codec/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvforge::codec;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto info = peek_header(bytes);
  KvChunk out;
  const kvforge::Status s = decode_frame(bytes, &out);
  if (s.ok()) {
    KVF_CHECK(info.ok());
    KVF_CHECK(out.shape == info->shape && out.n_tokens == info->n_tokens);
    KVF_CHECK(out.k.size() == out.v.size() && out.k.size() == out.view().elements());
    // Per-layer decoding of the same frame must agree.
    auto codec = make_codec(info->spec);
    KVF_CHECK(codec.ok());
    const size_t per_layer = out.k.size() / static_cast<size_t>(out.shape.n_layers);
    std::vector<float> k(per_layer), v(per_layer);
    KVF_CHECK((*codec)->decode_layer(bytes, 0, k.data(), v.data()).ok());
  } else {
    KVF_CHECK(!s.message().empty());
  }
  return 0;
}

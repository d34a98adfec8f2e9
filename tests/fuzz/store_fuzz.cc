// libFuzzer target: the stored-chunk container parser over arbitrary bytes. It
// must return a Status, never crash; a container that parses must serialize
// back to the same bytes (the format has one encoding per chunk) and hold
// frames whose headers agree with it. Random bytes almost never pass the
// checksum, so each input is also parsed resealed (length field and checksum
// made right) to reach the checks behind it.
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kvforge/codec/codec.h"
#include "kvforge/core/little_endian.h"
#include "kvforge/store/chunk_io.h"

namespace {

void parse_and_check(std::string_view bytes) {
  using namespace kvforge;
  auto chunk = store::parse_chunk(bytes);
  if (!chunk.ok()) {
    KVF_CHECK(!chunk.status().message().empty());
    return;
  }
  auto again = store::serialize_chunk(*chunk);
  KVF_CHECK(again.ok() && *again == bytes);
  KVF_CHECK(store::parse_stored(chunk->key, bytes).ok());
  for (const store::LevelFrame& level : chunk->levels) {
    auto info = codec::peek_header(level.frame);
    KVF_CHECK(info.ok() && info->spec == level.level && info->n_tokens == chunk->tokens.size());
    // Decoding may still fail (a frame's own section checksums), but must not crash.
    codec::KvChunk out;
    (void)codec::decode_frame(level.frame, &out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  parse_and_check(bytes);
  constexpr size_t kLengthOffset = 8, kMinBytes = 64;  // docs/STORE.md
  if (size >= kMinBytes) {
    kvforge::core::set_u64(&bytes, kLengthOffset, size);
    kvforge::core::set_u64(&bytes, size - 8, XXH64(bytes.data(), size - 8, 0));
    parse_and_check(bytes);
  }
  return 0;
}

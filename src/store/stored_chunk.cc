#include "kvforge/store/stored_chunk.h"

#include <xxhash.h>

#include <cstring>
#include <set>

#include "kvforge/codec/codec.h"
#include "kvforge/core/little_endian.h"
#include "kvforge/core/spec.h"
#include "store/chunk_format.h"

namespace kvforge::store {

namespace f = format;

const LevelFrame* StoredChunk::find(std::string_view level) const {
  for (const LevelFrame& l : levels) {
    if (l.level == level) return &l;
  }
  return nullptr;
}

Status StoredChunk::missing_level(std::string_view level) const {
  std::vector<std::string> have;
  for (const LevelFrame& l : levels) have.push_back(l.level);
  return Status::NotFound("store: chunk " + key.hex() + " has no level " + std::string(level) + " (it has " +
                          core::join_names(have) + ")");
}

uint64_t StoredChunk::frame_bytes() const {
  uint64_t n = 0;
  for (const LevelFrame& l : levels) n += l.frame.size();
  return n;
}

Result<std::string> serialize_chunk(const StoredChunk& chunk) {
  if (chunk.tokens.empty() || chunk.tokens.size() > f::kMaxTokens) {
    return Status::InvalidArgument("store: a chunk holds 1.." + std::to_string(f::kMaxTokens) + " tokens, not " +
                                   std::to_string(chunk.tokens.size()));
  }
  if (chunk.levels.empty() || chunk.levels.size() > f::kMaxLevels) {
    return Status::InvalidArgument("store: a chunk holds 1.." + std::to_string(f::kMaxLevels) + " levels, not " +
                                   std::to_string(chunk.levels.size()));
  }
  const bool signed_chunk = chunk.is_signed();
  for (const LevelFrame& l : chunk.levels) {
    if (l.mac.size() != (signed_chunk ? f::kMacBytes : 0)) {
      return Status::InvalidArgument("store: chunk " + chunk.key.hex() + " level " + l.level +
                                     ": every level is signed (32-byte MAC) or none is");
    }
  }
  std::string out;
  out.reserve(f::kMinChunkBytes + 4 * chunk.tokens.size() + chunk.frame_bytes() + 160 * chunk.levels.size());
  out.append(reinterpret_cast<const char*>(f::kMagic), sizeof f::kMagic);
  core::put_u16(&out, f::kVersion);
  core::put_u16(&out, signed_chunk ? f::kFlagSigned : 0);
  core::put_u64(&out, 0);  // chunk_bytes, set below
  out += chunk.key.bytes();
  core::put_u64(&out, chunk.model_fingerprint);
  core::put_u32(&out, chunk.chunk_index);
  core::put_u32(&out, chunk.first_position);
  core::put_u32(&out, static_cast<uint32_t>(chunk.tokens.size()));
  core::put_u32(&out, static_cast<uint32_t>(chunk.levels.size()));
  for (const int32_t t : chunk.tokens) core::put_u32(&out, static_cast<uint32_t>(t));
  for (const LevelFrame& l : chunk.levels) {
    if (l.level.empty() || l.level.size() > f::kMaxLevelNameBytes) {
      return Status::InvalidArgument("store: level name " + core::quote(l.level) + " must be 1.." +
                                     std::to_string(f::kMaxLevelNameBytes) + " bytes");
    }
    core::put_u16(&out, static_cast<uint16_t>(l.level.size()));
    core::put_u16(&out, 0);
    out += l.level;
    core::put_u64(&out, l.frame.size());
    out += l.frame;
    out += l.mac;
  }
  core::set_u64(&out, f::kOffChunkBytes, out.size() + f::kChecksumBytes);
  core::put_u64(&out, XXH64(out.data(), out.size(), 0));
  return out;
}

namespace {

// Reads the container front to back; every read is bounds-checked against the
// bytes before the checksum.
class Reader {
 public:
  explicit Reader(std::string_view body) : body_(body) {}
  bool has(size_t n) const { return n <= body_.size() - pos_; }
  const char* take(size_t n) {
    const char* p = body_.data() + pos_;
    pos_ += n;
    return p;
  }
  size_t remaining() const { return body_.size() - pos_; }

 private:
  std::string_view body_;
  size_t pos_ = 0;
};

Status corrupt(const std::string& why) { return Status::Corruption("stored chunk: " + why); }

Status check_frame(const StoredChunk& chunk, const LevelFrame& level) {
  auto info = codec::peek_header(level.frame);
  if (!info.ok()) return info.status().with_context("stored chunk: level " + level.level);
  const std::string where = "stored chunk: level " + level.level + ": ";
  if (info->frame_bytes != level.frame.size()) return Status::Corruption(where + "frame length disagrees with its header");
  if (info->spec != level.level) return Status::Corruption(where + "frame was made by " + info->spec);
  if (info->model_fingerprint != chunk.model_fingerprint) return Status::Corruption(where + "frame of another model");
  if (info->n_tokens != chunk.tokens.size()) return Status::Corruption(where + "frame token count disagrees");
  if (info->first_position != chunk.first_position) return Status::Corruption(where + "frame first position disagrees");
  return Status::OK();
}

}  // namespace

Result<StoredChunk> parse_chunk(std::string_view bytes) {
  if (bytes.size() < f::kMinChunkBytes) {
    return corrupt("truncated: " + std::to_string(bytes.size()) + " bytes, less than the " +
                   std::to_string(f::kMinChunkBytes) + "-byte minimum");
  }
  if (std::memcmp(bytes.data(), f::kMagic, sizeof f::kMagic) != 0) return corrupt("bad magic (not a stored chunk)");
  const uint64_t declared = core::get_u64(bytes.data() + f::kOffChunkBytes);
  if (declared != bytes.size()) {
    return corrupt("declares " + std::to_string(declared) + " bytes but holds " + std::to_string(bytes.size()) +
                   " (truncated or padded)");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - f::kChecksumBytes);
  if (XXH64(body.data(), body.size(), 0) != core::get_u64(bytes.data() + body.size())) {
    return corrupt("checksum mismatch");
  }
  const uint16_t version = core::get_u16(bytes.data() + f::kOffVersion);
  if (version != f::kVersion) {
    return Status::NotSupported("stored chunk: format version " + std::to_string(version) + " (this build reads " +
                                std::to_string(f::kVersion) + ")");
  }
  const uint16_t flags = core::get_u16(bytes.data() + f::kOffFlags);
  if ((flags & ~f::kFlagSigned) != 0) return corrupt("reserved flags set");
  const size_t mac_bytes = (flags & f::kFlagSigned) ? f::kMacBytes : 0;

  StoredChunk chunk;
  chunk.key = ChunkKey::from_bytes(bytes.data() + f::kOffKey);
  chunk.model_fingerprint = core::get_u64(bytes.data() + f::kOffFingerprint);
  chunk.chunk_index = core::get_u32(bytes.data() + f::kOffChunkIndex);
  chunk.first_position = core::get_u32(bytes.data() + f::kOffFirstPosition);
  const uint32_t n_tokens = core::get_u32(bytes.data() + f::kOffTokens);
  const uint32_t n_levels = core::get_u32(bytes.data() + f::kOffLevels);
  if (n_tokens == 0 || n_tokens > f::kMaxTokens) return corrupt("token count " + std::to_string(n_tokens));
  if (n_levels == 0 || n_levels > f::kMaxLevels) return corrupt("level count " + std::to_string(n_levels));

  Reader in(body);
  in.take(f::kFixedHeaderBytes);
  if (!in.has(4ull * n_tokens)) return corrupt("token ids run past the end");
  const char* ids = in.take(4ull * n_tokens);
  chunk.tokens.resize(n_tokens);
  for (uint32_t t = 0; t < n_tokens; ++t) chunk.tokens[t] = static_cast<int32_t>(core::get_u32(ids + 4ull * t));

  std::set<std::string> seen;
  for (uint32_t i = 0; i < n_levels; ++i) {
    const std::string which = "level " + std::to_string(i) + ": ";
    if (!in.has(f::kLevelHeadBytes)) return corrupt(which + "runs past the end");
    const char* head = in.take(f::kLevelHeadBytes);
    const uint16_t name_bytes = core::get_u16(head);
    if (name_bytes == 0 || name_bytes > f::kMaxLevelNameBytes) return corrupt(which + "bad name length");
    if (core::get_u16(head + 2) != 0) return corrupt(which + "reserved bytes set");
    if (!in.has(name_bytes + f::kFrameLengthBytes)) return corrupt(which + "runs past the end");
    LevelFrame level;
    level.level.assign(in.take(name_bytes), name_bytes);
    const uint64_t frame_bytes = core::get_u64(in.take(f::kFrameLengthBytes));
    if (frame_bytes > in.remaining() || mac_bytes > in.remaining() - frame_bytes) {
      return corrupt(which + "frame runs past the end");
    }
    level.frame.assign(in.take(frame_bytes), frame_bytes);
    level.mac.assign(in.take(mac_bytes), mac_bytes);
    if (!seen.insert(level.level).second) return corrupt(which + "level " + level.level + " appears twice");
    KVF_RETURN_IF_ERROR(check_frame(chunk, level));
    chunk.levels.push_back(std::move(level));
  }
  if (in.remaining() != 0) return corrupt(std::to_string(in.remaining()) + " bytes after the last level");
  return chunk;
}

}  // namespace kvforge::store

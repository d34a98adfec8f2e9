// Rewriting one section of a valid frame while keeping every checksum valid, so
// that only a section decoder (or a later check) can object: how the tests craft
// frames that lie with valid checksums.
#pragma once
#include <gtest/gtest.h>
#include <xxhash.h>

#include <string>

#include "codec/frame_format.h"
#include "kvforge/codec/codec.h"

namespace kvforge::codec::testdata {

// `frame` with layer `layer`'s section replaced by `section`: offsets, sizes, frame
// size and both kinds of checksum rewritten.
inline std::string with_section(const std::string& frame, int layer, const std::string& section) {
  namespace f = format;
  auto info = peek_header(frame);
  EXPECT_TRUE(info.ok()) << info.status().to_string();
  std::string out = frame.substr(0, info->header_bytes);
  uint64_t off = info->header_bytes;
  for (int l = 0; l < info->shape.n_layers; ++l) {
    const std::string sec = l == layer ? section : frame.substr(info->section_offset[l], info->section_size[l]);
    const size_t entry = f::kFixedHeaderBytes + l * f::kIndexEntryBytes;
    f::set_u64(&out, entry, off);
    f::set_u64(&out, entry + 8, sec.size());
    f::set_u64(&out, entry + 16, XXH64(sec.data(), sec.size(), 0));
    off += sec.size();
  }
  f::set_u64(&out, f::kOffFrameBytes, off);
  const size_t checked = info->header_bytes - f::kChecksumBytes;
  f::set_u64(&out, checked, XXH64(out.data(), checked, 0));
  for (int l = 0; l < info->shape.n_layers; ++l) {
    out += l == layer ? section : frame.substr(info->section_offset[l], info->section_size[l]);
  }
  return out;
}

}  // namespace kvforge::codec::testdata

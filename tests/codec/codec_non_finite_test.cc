// Non-finite values, per spec: encoders refuse input an fp16 cannot hold, and a frame
// crafted to decode to NaN or Inf (or to carry a NaN or Inf scale, minimum or step)
// under valid checksums is Corruption naming the codec, the layer and the side.
#include <gtest/gtest.h>
#include <zstd.h>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "codec/codec_test_util.h"
#include "codec/frame_format.h"
#include "codec/frame_surgery.h"
#include "codec/test_chunks.h"
#include "kvforge/codec/codec.h"

namespace kvforge::codec {
namespace {

namespace f = format;
using testdata::all_specs;
using testdata::make_chunk;
using testdata::with_section;

constexpr uint16_t kHalfNaN = 0x7e00;
constexpr uint16_t kHalfInf = 0x7c00;
// Two layers, so the message must name the right one; 72 tokens leave every kivi2
// residual setting both quantized groups and fp16 residual tokens.
const KvShape kShape{2, 2, 8};
constexpr size_t kTokens = 72;
constexpr int kLayer = 1;

void set_half(std::string* s, size_t byte, uint16_t h) {
  (*s)[byte] = static_cast<char>(h & 0xff);
  (*s)[byte + 1] = static_cast<char>(h >> 8);
}

std::string zstd_of(const std::string& raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// A zstd section (docs/FORMAT.md) of n zero halves per side, with `h` at K element
// `k_at` or V element `v_at` (npos: none).
std::string zstd_section(size_t n, uint16_t h, size_t k_at, size_t v_at) {
  std::string k(2 * n, '\0'), v(2 * n, '\0');
  if (k_at != std::string::npos) set_half(&k, 2 * k_at, h);
  if (v_at != std::string::npos) set_half(&v, 2 * v_at, h);
  const std::string kz = zstd_of(k);
  std::string out;
  f::put_u32(&out, static_cast<uint32_t>(kz.size()));
  return out + kz + zstd_of(v);
}

struct Poisoned {
  std::string what;
  std::string section;
  std::string side;  // "K" or "V": the side the message must name
};

// Sections of layer kLayer that decode to, or carry metadata of, NaN or Inf. Every
// quantizing layout starts with K's scales, minimums or steps (docs/FORMAT.md), so byte 0
// holds the first K metadata half; fp16, zstd and kivi2's residual store raw halves.
std::vector<Poisoned> poisoned_sections(const std::string& codec, const std::string& section) {
  const size_t n = static_cast<size_t>(kShape.n_kv_heads) * kTokens * kShape.head_dim;
  std::vector<Poisoned> out;
  std::string s = section;
  if (codec == "fp16") {
    set_half(&s, 2 * 3, kHalfNaN);
    out.push_back({"K value NaN", s, "K"});
    s = section;
    set_half(&s, s.size() - 2, kHalfInf);
    out.push_back({"V value Inf", s, "V"});
  } else if (codec == "zstd") {
    out.push_back({"K value NaN", zstd_section(n, kHalfNaN, 5, std::string::npos), "K"});
    out.push_back({"V value Inf", zstd_section(n, kHalfInf, std::string::npos, n - 1), "V"});
  } else {
    set_half(&s, 0, kHalfNaN);
    out.push_back({"K metadata NaN", s, "K"});
    s = section;
    set_half(&s, 0, kHalfInf);
    out.push_back({"K metadata Inf", s, "K"});
    if (codec == "kivi2") {
      s = section;
      set_half(&s, s.size() - 2, kHalfInf);  // V's last residual token
      out.push_back({"V residual Inf", s, "V"});
    }
  }
  return out;
}

class NonFinite : public ::testing::TestWithParam<std::string> {};

TEST_P(NonFinite, EncodeRejectsValuesAnFp16CannotHold) {
  auto c = make_codec(GetParam());
  ASSERT_TRUE(c.ok());
  for (const float bad : {NAN, INFINITY, -INFINITY, 70000.0f}) {
    for (const bool v_side : {false, true}) {
      KvChunk in = make_chunk(kShape, kTokens, 1);
      (v_side ? in.v : in.k)[17] = bad;
      auto frame = (*c)->encode(in.view());
      ASSERT_TRUE(frame.status().is_invalid_argument())
          << GetParam() << " " << bad << ": " << frame.status().to_string();
      EXPECT_NE(frame.status().message().find(std::string(v_side ? "V" : "K") + " value"), std::string::npos)
          << frame.status().message();
      EXPECT_NE(frame.status().message().find("element 17"), std::string::npos) << frame.status().message();
    }
  }
  KvChunk edge = make_chunk(kShape, kTokens, 1);
  edge.k[3] = 65504.0f;
  edge.v[4] = -65504.0f;
  auto frame = (*c)->encode(edge.view());
  ASSERT_TRUE(frame.ok()) << frame.status().to_string();
  KvChunk out;
  EXPECT_TRUE((*c)->decode(*frame, &out).ok());
}

TEST_P(NonFinite, CraftedNonFiniteFrameIsCorruption) {
  auto c = make_codec(GetParam());
  ASSERT_TRUE(c.ok());
  auto frame = (*c)->encode(make_chunk(kShape, kTokens, 1).view());
  ASSERT_TRUE(frame.ok()) << frame.status().to_string();
  auto info = peek_header(*frame);
  ASSERT_TRUE(info.ok());
  const std::string section = frame->substr(info->section_offset[kLayer], info->section_size[kLayer]);
  KvChunk out;
  ASSERT_TRUE((*c)->decode(with_section(*frame, kLayer, section), &out).ok()) << "an unchanged reseal must decode";

  const std::vector<Poisoned> cases = poisoned_sections(info->codec, section);
  ASSERT_FALSE(cases.empty());
  for (const Poisoned& p : cases) {
    SCOPED_TRACE(GetParam() + ": " + p.what);
    const std::string bad = with_section(*frame, kLayer, p.section);
    ASSERT_TRUE(peek_header(bad).ok());
    const Status whole = (*c)->decode(bad, &out);
    ASSERT_TRUE(whole.is_corruption()) << whole.to_string();
    const std::string& msg = whole.message();
    EXPECT_EQ(msg.rfind("codec " + (*c)->spec() + ": layer 1: " + p.side + ": ", 0), 0u) << msg;
    EXPECT_TRUE(decode_frame(bad, &out).is_corruption());
    std::vector<float> k(static_cast<size_t>(kShape.n_kv_heads) * kTokens * kShape.head_dim), v(k.size());
    const Status layer = (*c)->decode_layer(bad, kLayer, k.data(), v.data());
    EXPECT_TRUE(layer.is_corruption()) << layer.to_string();
    EXPECT_EQ(layer.message(), msg);
    EXPECT_TRUE((*c)->decode_layer(bad, 0, k.data(), v.data()).ok()) << "layer 0 is intact";
  }
}

INSTANTIATE_TEST_SUITE_P(AllSpecs, NonFinite, ::testing::ValuesIn(all_specs()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return testdata::spec_name(i.param, /*keep_dash=*/false);
                         });

}  // namespace
}  // namespace kvforge::codec

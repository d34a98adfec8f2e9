// Contract suite for every codec spec: round trips within each codec's documented
// error bound, odd/GQA/empty shapes, corruption (every byte flip), truncation,
// wrong-model frames, registry errors, peek_header, per-layer decode, profiles.
#include <gtest/gtest.h>
#include <iterator>
#include <fstream>
#include <filesystem>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/half.h"
#include "kvforge/core/thread_pool.h"
#include "codec/test_chunks.h"
#include "temp_dir.h"

namespace kvforge::codec {
namespace {

using testdata::make_chunk;

// Option builders (designated initializers that skip members trip -Wextra).
EncodeOptions eo(uint64_t fp = 0, core::ThreadPool* pool = nullptr, const Profile* prof = nullptr) {
  EncodeOptions o;
  o.model_fingerprint = fp;
  o.pool = pool;
  o.profile = prof;
  return o;
}
DecodeOptions dopt(std::optional<uint64_t> fp = std::nullopt, core::ThreadPool* pool = nullptr,
                   const Profile* prof = nullptr) {
  DecodeOptions o;
  o.expected_fingerprint = fp;
  o.pool = pool;
  o.profile = prof;
  return o;
}

std::vector<std::string> all_specs() {
  std::vector<std::string> out;
  for (const auto& n : codec_names()) {
    const auto lv = levels(n);
    if (lv.empty()) {
      out.push_back(n);
    } else {
      for (const auto& l : lv) out.push_back(n + ":level=" + l);
    }
  }
  out.push_back("kivi2:residual=32");
  out.push_back("kivi2:residual=5");
  out.push_back("cachegen:level=3,delta=on");
  out.push_back("cachegen:level=1,delta=on");
  out.push_back("cachegen:level=5,delta=off");
  return out;
}

float fp16_round(float x) { return core::fp16_to_f32(core::f32_to_fp16(x)); }

// The bound each codec documents (docs/FORMAT.md), checked element by element.
// Returns the largest err / bound ratio (must be <= 1).
double bound_ratio(const std::string& spec, const KvChunk& in, const KvChunk& out) {
  const auto& s = in.shape;
  const size_t T = in.n_tokens;
  const int H = s.n_kv_heads, D = s.head_dim;
  double worst = 0;
  auto check = [&](float x, float y, double bound) {
    const double err = std::fabs(static_cast<double>(x) - y);
    const double b = bound * 1.002 + 1e-6;
    worst = std::max(worst, err / b);
  };
  const std::string name = spec.substr(0, spec.find(':'));
  for (int side = 0; side < 2; ++side) {
    const auto& x = side ? in.v : in.k;
    const auto& y = side ? out.v : out.k;
    for (int l = 0; l < s.n_layers; ++l) {
      const size_t base = in.index(l, 0, 0);
      auto at = [&](int h, size_t t, int d) { return base + (static_cast<size_t>(h) * T + t) * D + d; };
      if (name == "fp16" || name == "zstd") {
        for (int h = 0; h < H; ++h)
          for (size_t t = 0; t < T; ++t)
            for (int d = 0; d < D; ++d) {
              const size_t i = at(h, t, d);
              EXPECT_EQ(fp16_round(x[i]), y[i]) << spec;  // bit-exact w.r.t. fp16
            }
      } else if (name == "q8" || name == "q4") {
        const int Q = name == "q8" ? 127 : 7, G = name == "q8" ? D : std::min(D, 32);
        for (int h = 0; h < H; ++h)
          for (size_t t = 0; t < T; ++t)
            for (int g0 = 0; g0 < D; g0 += G) {
              float amax = 0;
              for (int d = g0; d < std::min(D, g0 + G); ++d) amax = std::max(amax, std::fabs(x[at(h, t, d)]));
              for (int d = g0; d < std::min(D, g0 + G); ++d) check(x[at(h, t, d)], y[at(h, t, d)], amax / Q / 2);
            }
      } else if (name == "kivi2") {
        const size_t r = spec.find("residual=") == std::string::npos ? 0 : std::stoul(spec.substr(spec.find('=') + 1));
        const size_t tq = T < r ? 0 : (T - r) / 32 * 32;
        auto group = [&](std::vector<size_t> idx) {
          float lo = x[idx[0]], hi = x[idx[0]];
          for (size_t i : idx) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
          for (size_t i : idx) check(x[i], y[i], (hi - lo) / 3 / 2 + std::fabs(lo) * 1e-3);
        };
        for (int h = 0; h < H; ++h) {
          for (size_t t0 = 0; t0 < tq; t0 += 32) {
            if (side == 0) {
              for (int d = 0; d < D; ++d) {
                std::vector<size_t> idx;
                for (size_t t = t0; t < t0 + 32; ++t) idx.push_back(at(h, t, d));
                group(idx);
              }
            }
          }
          if (side == 1) {
            for (size_t t = 0; t < tq; ++t)
              for (int d0 = 0; d0 < D; d0 += 32) {
                std::vector<size_t> idx;
                for (int d = d0; d < std::min(D, d0 + 32); ++d) idx.push_back(at(h, t, d));
                group(idx);
              }
          }
          for (size_t t = tq; t < T; ++t)
            for (int d = 0; d < D; ++d) EXPECT_EQ(fp16_round(x[at(h, t, d)]), y[at(h, t, d)]);
        }
      } else if (name == "cachegen-ref") {
        // LMCache: 32 bins under 10 layers; else K 32 for the first 10/32 of layers, V for 2.
        const int L = s.n_layers;
        const bool hi = L < 10 || (side == 0 ? l < (L * 10 + 31) / 32 : l < 2);
        const int ref_q = hi ? 15 : 7;
        for (size_t t = 0; t < T; ++t) {
          float amax = 0;
          for (int h = 0; h < H; ++h)
            for (int d = 0; d < D; ++d) amax = std::max(amax, std::fabs(x[at(h, t, d)]));
          for (int h = 0; h < H; ++h)
            for (int d = 0; d < D; ++d) check(x[at(h, t, d)], y[at(h, t, d)], amax / ref_q / 2);
        }
      } else if (name == "cachegen") {
        const int level = spec[spec.find('=') + 1] - '0';
        // Fewest bins of any plane per level (docs/FORMAT.md); K planes quantize x - offset,
        // and |x - offset| <= absmax, so absmax / Q / 2 bounds every plane.
        const int min_bins[] = {0, 64, 24, 12, 12, 8};
        const int Q = min_bins[level] / 2 - 1;
        for (int h = 0; h < H; ++h)
          for (int d = 0; d < D; ++d) {
            float amax = 0;
            for (size_t t = 0; t < T; ++t) amax = std::max(amax, std::fabs(x[at(h, t, d)]));
            for (size_t t = 0; t < T; ++t) check(x[at(h, t, d)], y[at(h, t, d)], amax / Q / 2);
          }
      } else {
        ADD_FAILURE() << "no bound for " << spec;
      }
    }
  }
  return worst;
}

void round_trip(const std::string& spec, const KvChunk& in) {
  auto c = make_codec(spec);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto frame = (*c)->encode(in.view(), eo(42));
  ASSERT_TRUE(frame.ok()) << spec << ": " << frame.status().to_string();
  auto bound = max_encoded_size(in.shape, in.n_tokens, spec);
  ASSERT_TRUE(bound.ok());
  EXPECT_LE(frame->size(), *bound) << spec;
  KvChunk out;
  Status s = (*c)->decode(*frame, &out, dopt(42));
  ASSERT_TRUE(s.ok()) << spec << ": " << s.to_string();
  ASSERT_EQ(out.shape, in.shape);
  ASSERT_EQ(out.n_tokens, in.n_tokens);
  ASSERT_EQ(out.k.size(), in.k.size());
  EXPECT_LE(bound_ratio(spec, in, out), 1.0) << spec << " T=" << in.n_tokens;
  // Deterministic: encoding again gives the same bytes.
  auto again = (*c)->encode(in.view(), eo(42));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*frame, *again) << spec;
}

TEST(Codec, RoundTripEverySpecAndShape) {
  const std::vector<std::pair<KvChunkShape, size_t>> shapes = {
      {{5, 4, 8}, 37},  {{5, 4, 8}, 300}, {{2, 8, 128}, 70}, {{1, 1, 1}, 1},
      {{3, 2, 5}, 0},   {{2, 3, 7}, 33},  {{1, 2, 3}, 64},   {{12, 1, 6}, 11},
      // Several rANS streams per plane (T >= 256): full and partial lane groups mixed,
      // a batch of fewer groups than streams, and exactly two groups.
      {{2, 3, 12}, 260}, {{1, 1, 16}, 256}, {{1, 5, 8}, 257},
  };
  for (const auto& spec : all_specs()) {
    for (const auto& [shape, T] : shapes) {
      SCOPED_TRACE(spec + " shape " + std::to_string(shape.n_layers) + "x" + std::to_string(shape.n_kv_heads) + "x" +
                   std::to_string(shape.head_dim) + " T=" + std::to_string(T));
      round_trip(spec, make_chunk(shape, T, 7));
      round_trip(spec, make_chunk(shape, T, 9, /*structured=*/false));
    }
  }
}

// The fuzz seed frames committed in tests/fuzz/corpus/codec/ are golden frames
// too: each was written by an earlier build (2 layers x 2 kv heads x head_dim 4,
// 11 tokens, fingerprint 7) and must keep decoding, so a format change that
// breaks old frames shows up here. Each must also re-encode to the same shape.
TEST(Codec, CommittedGoldenFramesStillDecode) {
  const std::filesystem::path dir = std::filesystem::path(KVF_SOURCE_DIR) / "tests/fuzz/corpus/codec";
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".frame") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string frame((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto info = peek_header(frame);
    ASSERT_TRUE(info.ok()) << entry.path() << ": " << info.status().to_string();
    KvChunk out;
    DecodeOptions o;
    o.expected_fingerprint = 7;
    const Status s = decode_frame(frame, &out, o);
    ASSERT_TRUE(s.ok()) << entry.path() << ": " << s.to_string();
    EXPECT_EQ(out.shape.n_layers, 2);
    EXPECT_EQ(out.shape.n_kv_heads, 2);
    EXPECT_EQ(out.shape.head_dim, 4);
    EXPECT_EQ(out.n_tokens, 11u);
    ++n;
  }
  EXPECT_GE(n, 15u);
}

// Encoding is deterministic, so today's encoder must reproduce the committed
// golden frames byte for byte: any change to a codec's output shows up as a
// diff here. After an intended format change, rewrite them with
//   KVF_WRITE_GOLDEN_FRAMES=1 build/tests/kvf_codec_tests --gtest_filter=Codec.GoldenFramesAreReproduced
// (and bump the format version, docs/FORMAT.md).
TEST(Codec, GoldenFramesAreReproduced) {
  const bool rewrite = std::getenv("KVF_WRITE_GOLDEN_FRAMES") != nullptr;
  const std::filesystem::path dir = std::filesystem::path(KVF_SOURCE_DIR) / "tests/fuzz/corpus/codec";
  const KvChunk in = make_chunk({2, 2, 4}, 11, 7);
  std::vector<std::string> specs = all_specs();
  for (const auto& n : levels("zstd"))
    if (std::find(specs.begin(), specs.end(), "zstd:level=" + n) == specs.end()) specs.push_back("zstd:level=" + n);
  for (const auto& spec : specs) {
    auto c = make_codec(spec);
    ASSERT_TRUE(c.ok()) << spec;
    auto frame = (*c)->encode(in.view(), eo(7));
    ASSERT_TRUE(frame.ok()) << spec;
    std::string name = spec;
    for (char& ch : name)
      if (ch == ':' || ch == '=' || ch == ',') ch = '_';
    const auto path = dir / (name + ".frame");
    if (rewrite) {
      std::ofstream(path, std::ios::binary) << *frame;
      continue;
    }
    std::ifstream committed(path, std::ios::binary);
    ASSERT_TRUE(committed) << path << " is missing";
    const std::string want((std::istreambuf_iterator<char>(committed)), std::istreambuf_iterator<char>());
    EXPECT_EQ(*frame, want) << spec << ": the encoder's output changed";
  }
}

TEST(Codec, ConstantAndZeroChunks) {
  for (const auto& spec : all_specs()) {
    KvChunk z = make_chunk({2, 2, 8}, 40, 1);
    std::fill(z.k.begin(), z.k.end(), 0.0f);
    std::fill(z.v.begin(), z.v.end(), 1.5f);
    round_trip(spec, z);
  }
}

TEST(Codec, LossyCodecsRejectNonFinite) {
  KvChunk c = make_chunk({1, 1, 4}, 3, 1);
  c.k[2] = NAN;
  for (const auto& spec : {"q8", "q4", "kivi2", "cachegen-ref", "cachegen:level=3"}) {
    auto f = (*make_codec(spec))->encode(c.view());
    EXPECT_TRUE(f.status().is_invalid_argument()) << spec;
  }
}

TEST(Codec, EveryByteFlipIsCorruption) {
  const KvChunk in = make_chunk({2, 2, 4}, 12, 3);
  for (const auto& spec : all_specs()) {
    auto c = make_codec(spec);
    auto frame = (*c)->encode(in.view(), eo(5));
    ASSERT_TRUE(frame.ok());
    for (size_t i = 0; i < frame->size(); ++i) {
      for (uint8_t x : {0x01, 0x80, 0xff}) {
        std::string bad = *frame;
        bad[i] = static_cast<char>(bad[i] ^ x);
        KvChunk out;
        Status s = (*c)->decode(bad, &out);
        ASSERT_TRUE(s.is_corruption()) << spec << " byte " << i << " ^" << int(x) << ": " << s.to_string();
        EXPECT_FALSE(s.message().empty());
        Status s2 = decode_frame(bad, &out);
        ASSERT_TRUE(s2.is_corruption()) << spec << " byte " << i;
      }
    }
  }
}

TEST(Codec, TruncatedAndPaddedFramesAreRejected) {
  const KvChunk in = make_chunk({2, 2, 4}, 20, 3);
  for (const auto& spec : all_specs()) {
    auto c = make_codec(spec);
    auto frame = (*c)->encode(in.view());
    ASSERT_TRUE(frame.ok());
    KvChunk out;
    for (size_t n = 0; n < frame->size(); ++n) {
      Status s = (*c)->decode(std::string_view(*frame).substr(0, n), &out);
      ASSERT_TRUE(s.is_corruption()) << spec << " prefix " << n << ": " << s.to_string();
    }
    EXPECT_TRUE((*c)->decode(*frame + "x", &out).is_corruption()) << spec;
  }
}

TEST(Codec, WrongModelFingerprintIsRejected) {
  const KvChunk in = make_chunk({2, 2, 4}, 10, 3);
  auto c = make_codec("cachegen:level=3");
  auto frame = (*c)->encode(in.view(), eo(0x1234));
  KvChunk out;
  Status s = (*c)->decode(*frame, &out, dopt(0x9999));
  EXPECT_TRUE(s.is_invalid_argument()) << s.to_string();
  EXPECT_NE(s.message().find("fingerprint"), std::string::npos);
  EXPECT_TRUE((*c)->decode(*frame, &out, dopt(0x1234)).ok());
  EXPECT_TRUE((*c)->decode(*frame, &out).ok());  // no expectation: accepted
}

TEST(Codec, FrameFromAnotherCodecIsNamed) {
  const KvChunk in = make_chunk({1, 1, 4}, 4, 3);
  auto frame = (*make_codec("q8"))->encode(in.view());
  KvChunk out;
  Status s = (*make_codec("q4"))->decode(*frame, &out);
  EXPECT_TRUE(s.is_invalid_argument());
  EXPECT_NE(s.message().find("q8"), std::string::npos) << s.to_string();
  EXPECT_TRUE(decode_frame(*frame, &out).ok());
}

TEST(Registry, NamesLevelsAndErrors) {
  EXPECT_EQ(codec_names(), (std::vector<std::string>{"fp16", "q8", "q4", "kivi2", "zstd", "cachegen-ref", "cachegen"}));
  EXPECT_GE(levels("cachegen").size(), 4u);
  EXPECT_TRUE(levels("q8").empty());
  for (const auto& spec : all_specs()) {
    auto c = make_codec(spec);
    ASSERT_TRUE(c.ok()) << spec;
    auto again = make_codec((*c)->spec());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ((*again)->spec(), (*c)->spec());
  }
  EXPECT_EQ((*make_codec("cachegen:3"))->spec(), "cachegen:level=3");
  EXPECT_EQ((*make_codec("cachegen"))->level(), default_level("cachegen"));
  auto bad = make_codec("cachegem");
  EXPECT_TRUE(bad.status().is_invalid_argument());
  EXPECT_NE(bad.status().message().find("cachegen-ref"), std::string::npos);
  bad = make_codec("cachegen:level=99");
  EXPECT_TRUE(bad.status().is_invalid_argument());
  EXPECT_NE(bad.status().message().find("valid:"), std::string::npos);
  EXPECT_TRUE(make_codec("q8:level=1").status().is_invalid_argument());
  EXPECT_TRUE(make_codec("cachegen:bogus=1").status().is_invalid_argument());
  EXPECT_TRUE(make_codec("kivi2:residual=33").status().is_invalid_argument());
  EXPECT_TRUE(make_codec("kivi2:residual=x").status().is_invalid_argument());
}

TEST(Frame, PeekHeaderAndLayerDecode) {
  const KvChunk in = make_chunk({5, 4, 8}, 50, 3);
  auto c = make_codec("cachegen:level=2");
  auto frame = (*c)->encode(in.view(), eo(77));
  auto info = peek_header(*frame);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->codec, "cachegen");
  EXPECT_EQ(info->level, "2");
  EXPECT_EQ(info->spec, "cachegen:level=2");
  EXPECT_EQ(info->shape, in.shape);
  EXPECT_EQ(info->n_tokens, 50u);
  EXPECT_EQ(info->model_fingerprint, 77u);
  EXPECT_EQ(info->frame_bytes, frame->size());
  ASSERT_EQ(info->section_offset.size(), 5u);
  // Header alone is enough to peek.
  EXPECT_TRUE(peek_header(std::string_view(*frame).substr(0, info->header_bytes)).ok());
  EXPECT_TRUE(peek_header(std::string_view(*frame).substr(0, info->header_bytes - 1)).status().is_corruption());
  KvChunk full;
  ASSERT_TRUE((*c)->decode(*frame, &full).ok());
  // Streaming: layer 2 decodes from the prefix that ends with its section.
  const size_t per_layer = 4 * 50 * 8;
  std::vector<float> k(per_layer), v(per_layer);
  const size_t end = info->section_offset[2] + info->section_size[2];
  ASSERT_TRUE((*c)->decode_layer(std::string_view(*frame).substr(0, end), 2, k.data(), v.data()).ok());
  EXPECT_TRUE(std::equal(k.begin(), k.end(), full.k.begin() + 2 * per_layer));
  EXPECT_TRUE(std::equal(v.begin(), v.end(), full.v.begin() + 2 * per_layer));
  EXPECT_TRUE((*c)->decode_layer(std::string_view(*frame).substr(0, end - 1), 2, k.data(), v.data()).is_corruption());
}

TEST(Frame, ThreadPoolGivesSameBytes) {
  const KvChunk in = make_chunk({5, 4, 8}, 90, 3);
  core::ThreadPool pool(3);
  for (const auto& spec : all_specs()) {
    auto c = make_codec(spec);
    auto a = (*c)->encode(in.view());
    auto b = (*c)->encode(in.view(), eo(0, &pool));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b) << spec;
    KvChunk x, y;
    ASSERT_TRUE((*c)->decode(*a, &x).ok());
    ASSERT_TRUE((*c)->decode(*a, &y, dopt(std::nullopt, &pool)).ok());
    EXPECT_EQ(x.k, y.k);
    EXPECT_EQ(x.v, y.v);
  }
}

TEST(Codec, ShapeLimitsAreInvalidArgument) {
  KvChunkView v{{0, 1, 1}, 1, nullptr, nullptr};
  EXPECT_TRUE((*make_codec("q8"))->encode(v).status().is_invalid_argument());
  v.shape = {1, 1, 2000};
  EXPECT_TRUE((*make_codec("q8"))->encode(v).status().is_invalid_argument());
  EXPECT_TRUE(max_encoded_size({1, 1, 1}, 1, "nope").status().is_invalid_argument());
}

TEST(Profile, LearnEncodeDecodeSaveLoad) {
  std::vector<KvChunk> chunks;
  std::vector<KvChunkView> views;
  for (int i = 0; i < 3; ++i) chunks.push_back(make_chunk({3, 2, 8}, 100, 10 + i));
  for (auto& c : chunks) views.push_back(c.view());
  auto prof = learn_profile(views, 99);
  ASSERT_TRUE(prof.ok()) << prof.status().to_string();
  const KvChunk in = make_chunk({3, 2, 8}, 64, 50);
  for (const auto& l : levels("cachegen")) {
    auto c = make_codec("cachegen:level=" + l);
    auto shipped = (*c)->encode(in.view());
    auto with = (*c)->encode(in.view(), eo(0, nullptr, &*prof));
    ASSERT_TRUE(with.ok()) << with.status().to_string();
    EXPECT_LT(with->size(), shipped->size()) << l;
    KvChunk a, b;
    ASSERT_TRUE((*c)->decode(*shipped, &a).ok());
    Status s = (*c)->decode(*with, &b, dopt(std::nullopt, nullptr, &*prof));
    ASSERT_TRUE(s.ok()) << s.to_string();
    // A profile codes in its learned basis: the values differ from the shipped-table
    // frame's but stay close (the bound itself: profile_basis_test.cc).
    double err = 0, ref = 0;
    for (size_t i = 0; i < in.k.size(); ++i) {
      err += std::pow(b.k[i] - in.k[i], 2) + std::pow(b.v[i] - in.v[i], 2);
      ref += std::pow(a.k[i] - in.k[i], 2) + std::pow(a.v[i] - in.v[i], 2);
    }
    EXPECT_LT(err, 4 * ref) << l;
    EXPECT_TRUE((*c)->decode(*with, &b).is_invalid_argument());  // profile missing
  }
  EXPECT_TRUE((*make_codec("q8"))->encode(in.view(), eo(0, nullptr, &*prof)).status().is_invalid_argument());
  const KvChunk other = make_chunk({2, 2, 8}, 10, 1);
  EXPECT_TRUE((*make_codec("cachegen"))->encode(other.view(), eo(0, nullptr, &*prof)).status().is_invalid_argument());

  kvforge::testing::TempDir dir;
  const std::string path = dir.path() + "/m.kvprof";
  ASSERT_TRUE(save_profile(path, *prof).ok());
  auto loaded = load_profile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->id(), prof->id());
  // Damage is Corruption.
  std::string bytes = prof->serialize();
  bytes.push_back(0);
  EXPECT_TRUE(Profile::parse(bytes).status().is_corruption());
}

}  // namespace
}  // namespace kvforge::codec

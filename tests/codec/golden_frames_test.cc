// Golden frames (tests/fuzz/corpus/codec/, also the decoder fuzzer's seeds): each was
// written by an earlier build and must keep decoding to the very values it decoded
// to then (golden.sums: XXH64 of the decoded K and V floats), and today's encoder
// must reproduce it byte for byte. They cover every spec on a small chunk, planes
// of several rANS streams (T >= 256, full and partial lane groups) and profile
// frames (basis blocks applied while decoding and after, RoPE undone).
//
// After an intended format change, rewrite frames, profiles and sums with
//   KVF_WRITE_GOLDEN_FRAMES=1 build-wt/tests/kvf_codec_tests --gtest_filter='CodecGolden.*'
// (and bump the format version, docs/FORMAT.md).
#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "codec/codec_test_util.h"
#include "codec/test_chunks.h"
#include "kvforge/codec/codec.h"
#include "kvforge/codec/profile.h"

namespace kvforge::codec {
namespace {

namespace fs = std::filesystem;
using testdata::make_chunk;

constexpr uint64_t kFingerprint = 7;

const fs::path& dir() {
  static const fs::path d = fs::path(KVF_SOURCE_DIR) / "tests/fuzz/corpus/codec";
  return d;
}

bool rewriting() { return std::getenv("KVF_WRITE_GOLDEN_FRAMES") != nullptr; }

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A profile the golden profile frames use, learned from fixed synthetic chunks.
struct ProfileCase {
  std::string file;
  KvShape shape;
  int block;          // LearnOptions::block (0: default)
  float rope_theta;
};

const std::vector<ProfileCase>& profile_cases() {
  static const std::vector<ProfileCase> v = {
      {"golden_unfused.kvprof", {1, 2, 4}, 0, 0.0f},        // block 8 over heads of 4: from_basis after decoding
      {"golden_fused_rope.kvprof", {1, 2, 8}, 8, 10000.0f},  // block 8 = a lane group: applied while decoding
  };
  return v;
}

Profile learn(const ProfileCase& pc) {
  std::vector<KvChunk> chunks;
  std::vector<KvChunkView> views;
  for (uint32_t i = 0; i < 2; ++i) chunks.push_back(make_chunk(pc.shape, 120, 30 + i));
  for (auto& c : chunks) views.push_back(c.view());
  LearnOptions o;
  o.block = pc.block;
  o.rope_theta = pc.rope_theta;
  o.first_positions = {0, 200};
  auto p = learn_profile(views, kFingerprint, o);
  EXPECT_TRUE(p.ok()) << p.status().to_string();
  return p.ok() ? *p : Profile();
}

// One golden frame: a spec over make_chunk(shape, T, seed), optionally with a profile.
struct GoldenCase {
  std::string file;
  std::string spec;
  KvShape shape;
  size_t T;
  uint32_t seed;
  int profile = -1;  // index into profile_cases()
  int32_t first_position = 0;
};

std::vector<GoldenCase> golden_cases() {
  std::vector<GoldenCase> v;
  std::vector<std::string> specs = testdata::all_specs();
  for (const auto& n : levels("zstd"))
    if (std::find(specs.begin(), specs.end(), "zstd:level=" + n) == specs.end()) specs.push_back("zstd:level=" + n);
  // The small chunk of the first golden frames (2 layers x 2 kv heads x head_dim 4).
  for (const auto& spec : specs) v.push_back({testdata::spec_name(spec) + ".frame", spec, {2, 2, 4}, 11, 7});
  // Several streams per plane: 5 full groups (4 streams, a batch of 4 then 1), and
  // 3 heads of 12 channels (full and partial groups in one batch).
  for (const auto& spec : {"cachegen-ref", "cachegen:level=3"})
    v.push_back({"ms_" + testdata::spec_name(spec) + ".frame", spec, {1, 5, 8}, 256, 11});
  for (const auto& spec : {"cachegen:level=1", "cachegen:level=3,delta=on"})
    v.push_back({"ms_" + testdata::spec_name(spec) + ".frame", spec, {1, 3, 12}, 260, 12});
  v.push_back({"profile_unfused_level_3.frame", "cachegen:level=3", {1, 2, 4}, 40, 13, 0, 0});
  v.push_back({"profile_unfused_level_1_ms.frame", "cachegen:level=1", {1, 2, 4}, 300, 14, 0, 0});
  v.push_back({"profile_fused_rope_level_2_ms.frame", "cachegen:level=2", {1, 2, 8}, 300, 15, 1, 5});
  v.push_back({"profile_fused_rope_level_5.frame", "cachegen:level=5", {1, 2, 8}, 33, 16, 1, 1000});
  return v;
}

// The committed profiles, or freshly learned ones when rewriting.
std::vector<Profile> golden_profiles() {
  std::vector<Profile> out;
  for (const auto& pc : profile_cases()) {
    if (rewriting()) {
      out.push_back(learn(pc));
      EXPECT_TRUE(save_profile((dir() / pc.file).string(), out.back()).ok());
      continue;
    }
    auto p = load_profile((dir() / pc.file).string());
    EXPECT_TRUE(p.ok()) << pc.file << ": " << p.status().to_string();
    out.push_back(p.ok() ? *p : Profile());
  }
  return out;
}

std::string sums_of(const KvChunk& c) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx %016llx",
                static_cast<unsigned long long>(XXH64(c.k.data(), c.k.size() * sizeof(float), 0)),
                static_cast<unsigned long long>(XXH64(c.v.data(), c.v.size() * sizeof(float), 0)));
  return buf;
}

// golden.sums: "<frame file> <xxh64 of K floats> <xxh64 of V floats>" per line.
std::map<std::string, std::string> read_sums() {
  std::map<std::string, std::string> m;
  std::istringstream in(read(dir() / "golden.sums"));
  std::string file, k, v;
  while (in >> file >> k >> v) m[file] = k + " " + v;
  return m;
}

// Learning is deterministic: today's learn_profile reproduces the committed profiles.
TEST(CodecGolden, ProfilesAreReproduced) {
  if (rewriting()) GTEST_SKIP() << "KVF_WRITE_GOLDEN_FRAMES is set: this run writes the profiles it would compare against";
  const std::vector<Profile> committed = golden_profiles();
  for (size_t i = 0; i < committed.size(); ++i)
    EXPECT_EQ(learn(profile_cases()[i]).serialize(), committed[i].serialize()) << profile_cases()[i].file;
}

// Encoding is deterministic: today's encoder reproduces every golden frame.
TEST(CodecGolden, FramesAreReproduced) {
  const std::vector<Profile> profiles = golden_profiles();
  std::string sums;
  for (const auto& gc : golden_cases()) {
    SCOPED_TRACE(gc.file);
    const KvChunk in = make_chunk(gc.shape, gc.T, gc.seed);
    auto c = make_codec(gc.spec);
    ASSERT_TRUE(c.ok()) << gc.spec;
    EncodeOptions o = testdata::eo(kFingerprint, nullptr, gc.profile >= 0 ? &profiles[gc.profile] : nullptr);
    o.first_position = gc.first_position;
    auto frame = (*c)->encode(in.view(), o);
    ASSERT_TRUE(frame.ok()) << frame.status().to_string();
    if (!rewriting()) {
      ASSERT_TRUE(fs::exists(dir() / gc.file)) << gc.file << " is missing";
      EXPECT_EQ(*frame, read(dir() / gc.file)) << gc.spec << ": the encoder's output changed";
      continue;
    }
    std::ofstream(dir() / gc.file, std::ios::binary) << *frame;
    KvChunk out;
    ASSERT_TRUE(decode_frame(*frame, &out, testdata::dopt(kFingerprint, nullptr, o.profile)).ok());
    sums += gc.file + " " + sums_of(out) + "\n";
  }
  if (rewriting()) std::ofstream(dir() / "golden.sums", std::ios::binary) << sums;
}

// Every committed frame decodes, to the shape it was made with and to the values
// recorded when it was written.
TEST(CodecGolden, FramesDecodeToStoredValues) {
  const std::vector<Profile> profiles = golden_profiles();
  const auto sums = read_sums();
  std::map<std::string, GoldenCase> cases;
  for (const auto& gc : golden_cases()) cases[gc.file] = gc;
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir())) {
    if (entry.path().extension() != ".frame") continue;
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    ASSERT_TRUE(cases.count(name)) << "not a golden case";
    ASSERT_TRUE(sums.count(name)) << "no decoded sums in golden.sums";
    const GoldenCase& gc = cases[name];
    const std::string frame = read(entry.path());
    ASSERT_TRUE(peek_header(frame).ok());
    KvChunk out;
    const Status s =
        decode_frame(frame, &out, testdata::dopt(kFingerprint, nullptr, gc.profile >= 0 ? &profiles[gc.profile] : nullptr));
    ASSERT_TRUE(s.ok()) << s.to_string();
    EXPECT_EQ(out.shape, gc.shape);
    EXPECT_EQ(out.n_tokens, gc.T);
    EXPECT_EQ(sums_of(out), sums.at(name)) << "decoded values changed";
    ++n;
  }
  EXPECT_EQ(n, golden_cases().size());
  EXPECT_EQ(sums.size(), golden_cases().size());
}

}  // namespace
}  // namespace kvforge::codec

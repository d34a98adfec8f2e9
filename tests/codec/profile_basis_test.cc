// Transform coding with a model profile: the eigen solver, the basis round trip,
// and the documented error bound of profile frames (docs/FORMAT.md,
// "Profile transform"), with and without RoPE and key weights.
#include <gtest/gtest.h>

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "codec/plane_basis.h"
#include "codec/test_chunks.h"
#include "kvforge/codec/codec.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/kernels.h"

namespace kvforge::codec {
namespace {

using testdata::make_chunk;

// A profile's file bytes: the body and its XXH64 (as save_profile writes them).
std::string file_bytes(const Profile& p) {
  std::string s = p.serialize();
  const uint64_t h = XXH64(s.data(), s.size(), 0);
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(h >> (8 * i)));
  return s;
}

TEST(PlaneBasis, JacobiEigenReconstructsTheMatrix) {
  std::mt19937 rng(3);
  std::normal_distribution<double> nd;
  for (int n : {1, 2, 5, 16}) {
    std::vector<double> m(n * n), a(n * n, 0.0);
    for (double& x : m) x = nd(rng);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < n; ++k) a[i * n + j] += m[i * n + k] * m[j * n + k];
    std::vector<double> u, val;
    symmetric_eigen(n, a, &u, &val);
    for (int j = 1; j < n; ++j) EXPECT_GE(val[j - 1], val[j]);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        double r = 0, o = 0;
        for (int k = 0; k < n; ++k) {
          r += u[i * n + k] * val[k] * u[j * n + k];
          o += u[k * n + i] * u[k * n + j];
        }
        EXPECT_NEAR(r, a[i * n + j], 1e-9 * (1 + std::fabs(a[i * n + j]))) << n;
        EXPECT_NEAR(o, i == j ? 1.0 : 0.0, 1e-12) << n;
      }
  }
}

TEST(PlaneBasis, ToAndFromBasisInvertEachOther) {
  const int H = 2, D = 8, C = H * D;
  const size_t T = 70;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  std::vector<float> w(C), u(C * C, 0.0f), x(C * T), y(C * T), back(C * T);
  for (float& v : w) v = 0.1f + std::fabs(nd(rng));
  for (size_t i = 0; i < w.size(); i += 2) w[i + 1] = w[i];
  std::vector<double> a(C * C, 0.0), vec, val;
  for (int i = 0; i < C; ++i)
    for (int j = 0; j < C; ++j) a[i * C + j] = (i == j ? 2.0 : 0.0) + nd(rng) * 0.1 + 0.0;
  for (int i = 0; i < C; ++i)
    for (int j = 0; j < i; ++j) a[j * C + i] = a[i * C + j];
  symmetric_eigen(C, a, &vec, &val);
  for (int i = 0; i < C * C; ++i) u[i] = static_cast<float>(vec[i]);
  for (float& v : x) v = nd(rng);
  PlaneBasis b{H, D, C, w.data(), u.data(), 10000.0f};
  to_basis(b, T, 4000, x.data(), y.data());
  // Norms: sum_c w_c x_c^2 == sum_j y_j^2 per token (rotation and basis are isometries).
  for (size_t t = 0; t < T; ++t) {
    double nx = 0, ny = 0;
    for (int c = 0; c < C; ++c) {
      const size_t i = (static_cast<size_t>(c / D) * T + t) * D + c % D;
      nx += w[c] * x[i] * x[i];
      ny += y[i] * y[i];
    }
    EXPECT_NEAR(nx, ny, 1e-4 * nx);
  }
  from_basis(b, T, 4000, y.data(), back.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(back[i], x[i], 1e-4f);
  // The rotation matches the runtime's RoPE: un-rotating a rotated vector gives it back.
  PlaneBasis id = b;
  std::vector<float> eye(C * C, 0.0f), ones(C, 1.0f);
  for (int i = 0; i < C; ++i) eye[i * C + i] = 1.0f;
  id.basis = eye.data();
  id.weights = ones.data();
  std::vector<float> rotated = x;
  for (int h = 0; h < H; ++h)
    for (size_t t = 0; t < T; ++t) core::rope_f32(&rotated[(h * T + t) * D], 1, D, static_cast<int>(4000 + t), 10000.0f);
  to_basis(id, T, 4000, rotated.data(), y.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 2e-3f);
}


// Smallest nominal Q (bins / 2 - 1) of each level's profile schedule (docs/FORMAT.md).
int min_qnom(int level) {
  switch (level) {
    case 1: return 19;
    case 2: return 7;
    case 3: return 5;
    case 4: return 4;
    default: return 3;
  }
}

// Per token and basis block: ||sqrt(w) .* (x - x')|| <= sqrt(B) * max step / 2, with
// every step <= max(Rb / (2 Qnom), S): Rb the largest distance between two tokens'
// weighted, un-rotated block vectors, S the profile's step for the plane.
void expect_profile_bound(const KvChunk& in, const KvChunk& out, const Profile& p, int level, int32_t first) {
  const int L = in.shape.n_layers, H = in.shape.n_kv_heads, D = in.shape.head_dim, C = H * D, B = static_cast<int>(p.block());
  const size_t T = in.n_tokens;
  for (int kv = 0; kv < 2; ++kv)
    for (int l = 0; l < L; ++l) {
      const float* w = &p.weights()[(static_cast<size_t>(l) * 2 + kv) * C];
      const Profile::LevelTables* lt = p.find(static_cast<uint8_t>(level));
      ASSERT_NE(lt, nullptr);
      const double S = lt->steps[static_cast<size_t>(l) * 2 + kv];
      const auto& X = kv ? in.v : in.k;
      const auto& Y = kv ? out.v : out.k;
      std::vector<float> z(T * C), e(T * C);
      for (size_t t = 0; t < T; ++t) {
        std::vector<float> a(C), b(C);
        for (int c = 0; c < C; ++c) {
          a[c] = X[in.index(l, c / D, t) + c % D];
          b[c] = a[c] - Y[in.index(l, c / D, t) + c % D];
        }
        if (kv == 0 && p.rope_theta() > 0) {
          core::rope_f32(a.data(), H, D, -(first + static_cast<int>(t)), p.rope_theta());
          core::rope_f32(b.data(), H, D, -(first + static_cast<int>(t)), p.rope_theta());
        }
        for (int c = 0; c < C; ++c) {
          z[t * C + c] = std::sqrt(w[c]) * a[c];
          e[t * C + c] = std::sqrt(w[c]) * b[c];
        }
      }
      for (int c0 = 0; c0 < C; c0 += B) {
        double rb = 0;
        for (size_t t = 0; t < T; ++t)
          for (size_t s = 0; s < t; ++s) {
            double d2 = 0;
            for (int c = c0; c < c0 + B; ++c) d2 += std::pow(z[t * C + c] - z[s * C + c], 2);
            rb = std::max(rb, std::sqrt(d2));
          }
        const double max_step = std::max(rb / (2.0 * min_qnom(level)), S) * 1.01;
        const double bound = std::sqrt(static_cast<double>(B)) * max_step / 2 + 1e-3 * (rb + 1);
        for (size_t t = 0; t < T; ++t) {
          double n2 = 0;
          for (int c = c0; c < c0 + B; ++c) n2 += std::pow(e[t * C + c], 2);
          ASSERT_LE(std::sqrt(n2), bound) << "level " << level << " kv " << kv << " layer " << l << " token " << t;
        }
      }
    }
}

void round_trip_with_profile(const LearnOptions& lo, KvShape shape, int32_t first) {
  std::vector<KvChunk> train;
  std::vector<KvChunkView> views;
  for (int i = 0; i < 3; ++i) train.push_back(make_chunk(shape, 90, 20 + i));
  for (auto& c : train) views.push_back(c.view());
  auto prof = learn_profile(views, 5, lo);
  ASSERT_TRUE(prof.ok()) << prof.status().to_string();
  auto again = Profile::parse(file_bytes(*prof));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->id(), prof->id());
  const KvChunk in = make_chunk(shape, 57, 99);
  for (int level = 1; level <= 5; ++level) {
    auto c = make_codec("cachegen:level=" + std::to_string(level));
    ASSERT_TRUE(c.ok());
    EncodeOptions eo;
    eo.profile = &*prof;
    eo.first_position = first;
    auto frame = (*c)->encode(in.view(), eo);
    ASSERT_TRUE(frame.ok()) << frame.status().to_string();
    auto info = peek_header(*frame);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->first_position, static_cast<uint32_t>(first));
    DecodeOptions dopt;
    dopt.profile = &*again;
    KvChunk out;
    Status s = (*c)->decode(*frame, &out, dopt);
    ASSERT_TRUE(s.ok()) << s.to_string();
    expect_profile_bound(in, out, *prof, level, first);
    // Layer by layer decodes the same values.
    std::vector<float> k(in.k.size() / shape.n_layers), v(k.size());
    ASSERT_TRUE((*c)->decode_layer(*frame, shape.n_layers - 1, k.data(), v.data(), dopt).ok());
    EXPECT_TRUE(std::equal(k.begin(), k.end(), out.k.end() - static_cast<std::ptrdiff_t>(k.size())));
  }
}

TEST(ProfileBasis, RoundTripWithinBoundPlain) { round_trip_with_profile({}, {2, 2, 8}, 0); }

TEST(ProfileBasis, RoundTripWithinBoundRopeAndKeyWeights) {
  const KvShape shape{2, 3, 8};
  LearnOptions lo;
  lo.rope_theta = 10000.0f;
  lo.first_positions = {0, 90, 180};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> ud(0.01f, 50.0f);
  lo.key_weights.resize(2 * 3 * 8);
  for (float& w : lo.key_weights) w = ud(rng);
  round_trip_with_profile(lo, shape, 1234);
}

TEST(ProfileBasis, PerHeadBlocksOnWideLayers) {
  LearnOptions lo;
  lo.block = 8;
  round_trip_with_profile(lo, {1, 4, 8}, 7);
}

TEST(ProfileBasis, BadLearnOptionsAreNamed) {
  const KvChunk c = make_chunk({1, 2, 8}, 10, 1);
  const KvChunkView v = c.view();
  LearnOptions lo;
  lo.block = 3;
  EXPECT_TRUE(learn_profile({&v, 1}, 0, lo).status().is_invalid_argument());
  lo = {};
  lo.key_weights = {1.0f, 2.0f};
  EXPECT_TRUE(learn_profile({&v, 1}, 0, lo).status().is_invalid_argument());
  lo = {};
  lo.first_positions = {1, 2};
  EXPECT_TRUE(learn_profile({&v, 1}, 0, lo).status().is_invalid_argument());
  lo = {};
  lo.rope_theta = -1;
  EXPECT_TRUE(learn_profile({&v, 1}, 0, lo).status().is_invalid_argument());
}

TEST(ProfileBasis, DamagedBasisIsCorruption) {
  const KvChunk c = make_chunk({1, 2, 8}, 40, 1);
  const KvChunkView v = c.view();
  auto prof = learn_profile({&v, 1}, 0, {});
  ASSERT_TRUE(prof.ok());
  Profile::Data d = prof->data();
  d.basis[0] *= 2.0f;  // no longer orthonormal, yet correctly checksummed
  auto parsed = Profile::parse(file_bytes(Profile(std::move(d))));
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.status().is_corruption());
  EXPECT_NE(parsed.status().message().find("orthonormal"), std::string::npos) << parsed.status().to_string();
  d = prof->data();
  d.weights[0] = 0.0f;
  EXPECT_TRUE(Profile::parse(file_bytes(Profile(std::move(d)))).status().is_corruption());
}

TEST(ProfileBasis, FirstPositionOutOfRangeIsRejected) {
  const KvChunk c = make_chunk({1, 1, 8}, 4, 1);
  EncodeOptions eo;
  eo.first_position = -1;
  EXPECT_TRUE((*make_codec("q8"))->encode(c.view(), eo).status().is_invalid_argument());
}

}  // namespace
}  // namespace kvforge::codec

// Codec throughput, single thread (GB/s per core of fp16-equivalent KV: 2 bytes per
// K or V element, in for encode, out for decode), every codec and level side by side
// on one synthetic structured KV: 8 layers x 4 kv heads x head_dim 64 x 4096 tokens
// (a 1B-class shape). Values drift smoothly along tokens, channels carry offsets,
// some channels are outliers (like real keys after RoPE). The profile variants use
// a profile learned from a different sample of the same generator.
//   build-codec3/bench/codec_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/codec/profile.h"

namespace kvforge::codec {
namespace {

constexpr KvShape kShape{8, 4, 64};
constexpr size_t kTokens = 4096;

KvChunk make_kv(uint32_t seed) {
  KvChunk c;
  c.shape = kShape;
  c.n_tokens = kTokens;
  c.allocate();
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int side = 0; side < 2; ++side) {
    auto& x = side ? c.v : c.k;
    for (int l = 0; l < kShape.n_layers; ++l)
      for (int h = 0; h < kShape.n_kv_heads; ++h)
        for (int d = 0; d < kShape.head_dim; ++d) {
          // Keys: per-channel offsets, outlier channels, slow and fast (RoPE-like) channels.
          const bool key = side == 0;
          const float off = key ? nd(rng) * (d % 5 == 0 ? 4.0f : 0.5f) : 0.0f;
          const float amp = key ? (d % 7 == 3 ? 6.0f : 1.0f) : 0.5f;
          const float rho = key ? (d < kShape.head_dim / 4 ? 0.3f : 0.95f) : 0.1f;
          float walk = 0;
          for (size_t t = 0; t < kTokens; ++t) {
            walk = rho * walk + std::sqrt(1 - rho * rho) * nd(rng);
            x[c.index(l, h, t) + d] = off + amp * walk + 0.02f * nd(rng);
          }
        }
  }
  return c;
}

struct Fixture {
  KvChunk kv = make_kv(1);
  Profile profile;
  std::map<std::string, std::string> frames;
  Fixture() {
    KvChunk sample = make_kv(2);
    const KvChunkView v = sample.view();
    profile = *learn_profile(std::span<const KvChunkView>(&v, 1), 0);
  }
  double fp16_bytes() const { return 2.0 * 2.0 * static_cast<double>(kv.k.size()); }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// spec may end in "+profile".
std::pair<std::string, bool> split(const std::string& spec) {
  const bool prof = spec.size() > 8 && spec.ends_with("+profile");
  return {prof ? spec.substr(0, spec.size() - 8) : spec, prof};
}

void BM_Encode(benchmark::State& state, const std::string& spec) {
  auto& fx = fixture();
  auto [cs, prof] = split(spec);
  auto c = make_codec(cs);
  if (!c.ok()) return state.SkipWithError(c.status().to_string().c_str());
  EncodeOptions o;
  o.profile = prof ? &fx.profile : nullptr;
  size_t bytes = 0;
  for (auto _ : state) {
    auto f = (*c)->encode(fx.kv.view(), o);
    if (!f.ok()) return state.SkipWithError(f.status().to_string().c_str());
    bytes = f->size();
    benchmark::DoNotOptimize(f->data());
  }
  state.counters["encode_gbps_per_core"] =
      benchmark::Counter(fx.fp16_bytes() * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
  state.counters["bytes_per_token"] = static_cast<double>(bytes) / kTokens;
}

void BM_Decode(benchmark::State& state, const std::string& spec) {
  auto& fx = fixture();
  auto [cs, prof] = split(spec);
  auto c = make_codec(cs);
  if (!c.ok()) return state.SkipWithError(c.status().to_string().c_str());
  EncodeOptions eo;
  eo.profile = prof ? &fx.profile : nullptr;
  auto f = (*c)->encode(fx.kv.view(), eo);
  if (!f.ok()) return state.SkipWithError(f.status().to_string().c_str());
  DecodeOptions o;
  o.profile = eo.profile;
  KvChunk out;
  if (!(*c)->decode(*f, &out, o).ok()) return state.SkipWithError("decode failed");  // warm (and profile tables)
  for (auto _ : state) {
    const Status s = (*c)->decode(*f, &out, o);
    if (!s.ok()) return state.SkipWithError(s.to_string().c_str());
    benchmark::DoNotOptimize(out.k.data());
  }
  state.counters["decode_gbps_per_core"] =
      benchmark::Counter(fx.fp16_bytes() * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
  state.counters["bytes_per_token"] = static_cast<double>(f->size()) / kTokens;
}

std::vector<std::string> bench_specs() {
  std::vector<std::string> out;
  for (const auto& n : codec_names()) {
    const auto lv = levels(n);
    if (lv.empty()) {
      out.push_back(n);
    } else if (n == "zstd") {
      for (const char* l : {"1", "3"}) out.push_back(n + ":level=" + l);
    } else {
      for (const auto& l : lv) out.push_back(n + ":level=" + l);
      for (const auto& l : lv) out.push_back(n + ":level=" + l + "+profile");
    }
  }
  return out;
}

void register_all() {
  for (const auto& spec : bench_specs()) {
    benchmark::RegisterBenchmark(("decode/" + spec).c_str(), BM_Decode, spec)->Unit(benchmark::kMillisecond)->MinTime(0.3);
  }
  for (const auto& spec : bench_specs()) {
    benchmark::RegisterBenchmark(("encode/" + spec).c_str(), BM_Encode, spec)->Unit(benchmark::kMillisecond)->MinTime(0.3);
  }
}

}  // namespace
}  // namespace kvforge::codec

// Registered from main: the codec registry's tables are not ready during static init.
int main(int argc, char** argv) {
  kvforge::codec::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

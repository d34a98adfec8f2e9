// The loader tests' context: stories260K, six TinyStories lines cut to 4
// chunks of 64 tokens and a partial one, published at five levels into a
// mem:// store; load options from a calibration on it, and comparisons.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/model/llama.h"
#include "kvforge/store/chunk_encoder.h"
#include "kvforge/store/chunk_io.h"
#include "kvforge/store/registry.h"
#include "kvforge/stream/loader.h"
#include "kvforge/stream/publish.h"
#include "shared_paths.h"

namespace kvforge::stream::loader_testing {

inline constexpr size_t kChunk = 64;
inline const std::vector<std::string> kLevels = {"fp16", "q8", "cachegen:level=1", "cachegen:level=3",
                                                 "cachegen:level=5"};

struct Fixture {
  std::shared_ptr<const model::LlamaModel> model;
  std::vector<int32_t> tokens;  // 5 chunks, the last partial
  std::unique_ptr<store::Backend> backend;
  store::StoredChunk sample;
};

inline const Fixture& fixture() {
  static Fixture* f = [] {
    auto* f = new Fixture;
    model::LoadOptions lo;
    lo.model_path = testing::model_dir() + "stories260K.bin";
    lo.tokenizer_path = testing::model_dir() + "tok512.bin";
    auto m = model::LlamaModel::load(lo);
    KVF_CHECK(m.ok());
    f->model = *m;
    const auto lines = testing::lines(testing::shared("data/tinystories-valid-first1000.txt"));
    std::string text;
    for (int i = 0; i < 6; ++i) text += lines[i] + " ";
    f->tokens = f->model->tokenizer()->encode(text, true);
    KVF_CHECK(f->tokens.size() > 4 * kChunk + 10);
    f->tokens.resize(4 * kChunk + 10);
    auto backend = store::open_backend("mem://");
    KVF_CHECK(backend.ok());
    f->backend = std::move(*backend);
    auto encoder = store::ChunkEncoder::make(kLevels, f->model->fingerprint());
    KVF_CHECK(encoder.ok());
    model::Session publisher(f->model, {.n_threads = 1});
    auto n = publish_context(publisher, *f->backend, f->tokens, *encoder, kChunk, SIZE_MAX, &f->sample);
    KVF_CHECK(n.ok() && *n == 5);
    return f;
  }();
  return *f;
}

inline LoadOptions options(const std::string& mode, double deadline = 10) {
  const Fixture& f = fixture();
  model::Session probe(f.model, {.n_threads = 1});
  auto cal = calibrate(probe, f.sample, kLevels, 1);
  KVF_CHECK(cal.ok());
  LoadOptions o;
  o.planner.levels = cal->levels;
  o.planner.prefill_seconds_per_token = cal->prefill_seconds_per_token;
  o.planner.deadline_seconds = deadline;
  o.mode = mode;
  o.chunk_tokens = kChunk;
  return o;
}

inline std::vector<float> full_prefill_logits() {
  const Fixture& f = fixture();
  model::Session s(f.model);
  std::vector<float> logits;
  KVF_CHECK(s.forward(f.tokens, model::LogitsMode::kLast, &logits).ok());
  return logits;
}

inline LoadReport load(ChunkSource& source, const LoadOptions& o, model::Session* session = nullptr) {
  const Fixture& f = fixture();
  model::Session local(f.model);
  model::Session& s = session ? *session : local;
  auto r = load_context(s, source, f.tokens, o);
  KVF_CHECK(r.ok());
  return std::move(*r);
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  KVF_CHECK(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

inline size_t argmax(const std::vector<float>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); }

inline std::vector<store::ChunkKey> keys() {
  return store::ChunkKeyer(fixture().model->fingerprint(), kChunk).keys(fixture().tokens);
}

// Wraps a source; fetch number `fail_at` and later fail as a dead server would,
// by Status (IOError) or by throwing; `corrupt` maps a chunk index to a damage.
class FaultySource final : public ChunkSource {
 public:
  enum class Damage { kStatus, kFlipByte };
  FaultySource(ChunkSource& inner, const std::vector<store::ChunkKey>& keys) : inner_(inner), keys_(keys) {}
  size_t fail_at = SIZE_MAX;
  bool throw_instead = false;
  std::map<size_t, Damage> corrupt;

  Result<size_t> lookup(std::span<const store::ChunkKey> keys, const FetchLimits& limits) override {
    return inner_.lookup(keys, limits);
  }
  Result<Fetched> fetch_level(const store::ChunkKey& key, std::string_view level, const FetchLimits& limits) override {
    if (fetches_++ >= fail_at) {
      if (throw_instead) throw std::runtime_error("connection reset");
      return Status::IOError("server gone");
    }
    const size_t i = std::find(keys_.begin(), keys_.end(), key) - keys_.begin();
    auto it = corrupt.find(i);
    if (it != corrupt.end() && it->second == Damage::kStatus) return Status::Corruption("chunk checksum mismatch");
    KVF_ASSIGN_OR_RETURN(Fetched f, inner_.fetch_level(key, level, limits));
    if (it != corrupt.end()) f.bytes[f.bytes.size() - 3] ^= 0x40;  // inside the last section
    return f;
  }
  Result<std::vector<int32_t>> fetch_tokens(const store::ChunkKey& key) override { return inner_.fetch_tokens(key); }

 private:
  ChunkSource& inner_;
  std::vector<store::ChunkKey> keys_;
  size_t fetches_ = 0;
};

}  // namespace kvforge::stream::loader_testing

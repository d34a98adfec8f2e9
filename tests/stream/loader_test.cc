// load_context on stories260K: fallbacks (missing, corrupt, source failure),
// exactness against local encode + decode, and planner decisions on an
// emulated link with a virtual clock.
#include <gtest/gtest.h>

#include <cmath>

#include "stream/loader_fixture.h"

namespace kvforge::stream {
namespace {

using namespace loader_testing;  // NOLINT: the fixture is this file's vocabulary

TEST(Loader, RecomputeModeEqualsOnePrefill) {
  BackendSource source(*fixture().backend);
  const LoadReport r = load(source, options("recompute"));
  EXPECT_EQ(r.stored_chunks, 5u);
  EXPECT_EQ(r.recomputed_chunks, 5u);
  EXPECT_EQ(r.bytes_fetched, 0u);
  EXPECT_LT(max_abs_diff(r.logits, full_prefill_logits()), 1e-4);
}

TEST(Loader, SourceFailingAtOnceGivesTheFullRecomputeLogitsExactly) {
  BackendSource inner(*fixture().backend);
  const LoadReport ref = load(inner, options("recompute"));
  for (bool throws : {false, true}) {
    FaultySource source(inner, keys());
    source.fail_at = 0;
    source.throw_instead = throws;
    const LoadReport r = load(source, options("adaptive"));
    EXPECT_TRUE(r.source_failed);
    EXPECT_EQ(r.recomputed_chunks, 5u);
    EXPECT_EQ(r.logits, ref.logits);  // the same code path: bit for bit
    EXPECT_EQ(r.chunks[0].note.rfind("source failed", 0), 0u) << r.chunks[0].note;
  }
}

TEST(Loader, SourceFailingMidLoadRecomputesTheRest) {
  BackendSource inner(*fixture().backend);
  const LoadReport ref = load(inner, options("recompute"));
  FaultySource source(inner, keys());
  source.fail_at = 2;  // chunks 0, 1 arrive (fp16), then the server dies
  const LoadReport r = load(source, options("fp16"));
  EXPECT_TRUE(r.source_failed);
  EXPECT_EQ(r.fetched_chunks, 2u);
  EXPECT_EQ(r.recomputed_chunks, 3u);
  for (size_t i = 2; i < 5; ++i) {
    EXPECT_EQ(r.chunks[i].choice, "recompute");
    EXPECT_EQ(r.chunks[i].note.rfind("source failed", 0), 0u) << r.chunks[i].note;
  }
  // Two chunks of fp16-rounded KV: the same answer within fp16 rounding.
  EXPECT_LT(max_abs_diff(r.logits, ref.logits), 2e-2);
  EXPECT_EQ(argmax(r.logits), argmax(ref.logits));
}

TEST(Loader, LoadedLevelEqualsLocalEncodeDecodeExactly) {
  const Fixture& f = fixture();
  // Local: prefill, export each chunk, encode + decode at the level, import.
  model::Session full(f.model);
  ASSERT_TRUE(full.forward(f.tokens, model::LogitsMode::kNone, nullptr).ok());
  for (const std::string level : {"cachegen:level=3", "q8", "fp16"}) {
    auto codec = codec::make_codec(level);
    ASSERT_TRUE(codec.ok());
    model::Session local(f.model);
    const size_t n = f.tokens.size();
    for (size_t begin = 0; begin < n; begin += kChunk) {
      const size_t end = std::min(n, begin + kChunk);
      kv::DenseKvF32 part;
      ASSERT_TRUE(full.cache().export_range(begin, end, &part).ok());
      codec::EncodeOptions eo;
      eo.model_fingerprint = f.model->fingerprint();
      eo.first_position = static_cast<int32_t>(begin);
      auto frame = (*codec)->encode(part.view(), eo);
      ASSERT_TRUE(frame.ok());
      codec::KvChunk back;
      ASSERT_TRUE((*codec)->decode(*frame, &back).ok());
      part.k = back.k;
      part.v = back.v;
      if (end == n) {  // the last token runs through the model for its logits
        kv::DenseKvF32 keep;
        ASSERT_TRUE(full.cache().export_range(begin, end - 1, &keep).ok());
        const size_t per = (end - 1 - begin) * static_cast<size_t>(part.shape.head_dim);
        for (int l = 0; l < part.shape.n_layers; ++l) {
          for (int h = 0; h < part.shape.n_kv_heads; ++h) {
            std::copy_n(back.k.begin() + back.index(l, h, 0), per, keep.k.begin() + keep.index(l, h, 0));
            std::copy_n(back.v.begin() + back.index(l, h, 0), per, keep.v.begin() + keep.index(l, h, 0));
          }
        }
        part = std::move(keep);
      }
      ASSERT_TRUE(local.cache().import_tokens(part).ok());
    }
    std::vector<float> want;
    ASSERT_TRUE(local.decode(f.tokens.back(), &want).ok());

    BackendSource source(*f.backend);
    model::Session loaded(f.model);
    const LoadReport r = load(source, options((*codec)->spec()), &loaded);
    EXPECT_EQ(r.fetched_chunks, 5u) << level;
    EXPECT_EQ(r.logits, want) << level;
    // Generation continues from the loaded cache exactly as from the local one.
    std::vector<float> a, b;
    const int32_t next = static_cast<int32_t>(argmax(want));
    ASSERT_TRUE(loaded.decode(next, &a).ok());
    ASSERT_TRUE(local.decode(next, &b).ok());
    EXPECT_EQ(a, b) << level;
  }
}

TEST(Loader, CorruptChunksAreReportedAndRecomputed) {
  BackendSource inner(*fixture().backend);
  FaultySource source(inner, keys());
  source.corrupt[1] = FaultySource::Damage::kStatus;    // the store's checksum caught it
  source.corrupt[3] = FaultySource::Damage::kFlipByte;  // the frame's checksum catches it
  const LoadReport r = load(source, options("cachegen:level=3"));
  EXPECT_FALSE(r.source_failed);
  EXPECT_EQ(r.fetched_chunks, 3u);
  EXPECT_EQ(r.recomputed_chunks, 2u);
  for (size_t i : {1, 3}) {
    EXPECT_EQ(r.chunks[i].choice, "recompute");
    EXPECT_EQ(r.chunks[i].note.rfind("corrupt", 0), 0u) << r.chunks[i].note;
  }
  EXPECT_EQ(r.chunks[4].choice, "cachegen:level=3");
  for (float x : r.logits) ASSERT_TRUE(std::isfinite(x));
}

TEST(Loader, MissingChunksAreRecomputed) {
  const Fixture& f = fixture();
  auto backend = store::open_backend("mem://");
  ASSERT_TRUE(backend.ok());
  auto encoder = store::ChunkEncoder::make({"q8"}, f.model->fingerprint());
  ASSERT_TRUE(encoder.ok());
  model::Session publisher(f.model, {.n_threads = 1});
  ASSERT_TRUE(publish_context(publisher, **backend, f.tokens, *encoder, kChunk, 2).ok());
  BackendSource source(**backend);
  LoadOptions o = options("q8");
  const LoadReport r = load(source, o);
  EXPECT_EQ(r.stored_chunks, 2u);
  EXPECT_EQ(r.fetched_chunks, 2u);
  for (size_t i = 2; i < 5; ++i) EXPECT_EQ(r.chunks[i].note, "missing");
  EXPECT_EQ(load_context(*std::make_unique<model::Session>(f.model), source, {}, o).status().code(),
            StatusCode::kInvalidArgument);
  o.mode = "q4";
  model::Session s(f.model);
  EXPECT_TRUE(load_context(s, source, f.tokens, o).status().is_invalid_argument());
}

// The planner on an emulated link with a virtual clock (decisions depend only
// on emulated transfer times, so they are deterministic).
struct LinkRun {
  std::vector<std::string> choices;
  LoadReport report;
};

LinkRun run_link(const std::string& trace_spec, double deadline, double prefill_s_per_token) {
  const Fixture& f = fixture();
  auto trace = make_trace(trace_spec);
  KVF_CHECK(trace.ok());
  core::VirtualClock clock;
  BackendSource inner(*f.backend);
  ThrottledSource source(inner, **trace, clock);
  LoadOptions o = options("adaptive", deadline);
  o.planner.levels = {o.planner.levels[2], o.planner.levels[3], o.planner.levels[4]};  // cachegen 1, 3, 5
  for (auto& l : o.planner.levels) l.decode_seconds_per_token = 0;  // compute is free in virtual time
  o.planner.prefill_seconds_per_token = prefill_s_per_token;
  o.planner.quality_slack = 1e9;  // CacheGen's rule: the best level the deadline allows
  o.clock = &clock;
  o.estimator_window = 1;  // the last chunk's throughput (CacheGen's predictor)
  o.initial_bytes_per_second = (*trace)->bytes_per_second(0);
  LinkRun run;
  run.report = load(source, o);
  for (const auto& c : run.report.chunks) run.choices.push_back(c.choice);
  return run;
}

double level_bytes(const std::string& level) { return static_cast<double>(fixture().sample.find(level)->frame.size()); }

TEST(LoaderOnLink, HighBandwidthFetchesTheBestLevel) {
  // Chunk 0 at level 1 takes 1 ms; the deadline allows 10 ms.
  const double mbps = level_bytes("cachegen:level=1") * 8 / 1e6 / 1e-3;
  const LinkRun r = run_link("const:mbps=" + std::to_string(mbps), 0.010, 1.0);
  EXPECT_EQ(r.choices, std::vector<std::string>(5, "cachegen:level=1"));
  EXPECT_TRUE(r.report.deadline_met);
}

TEST(LoaderOnLink, VeryLowBandwidthRecomputes) {
  // Level 5 would take 1 s per chunk; recompute is predicted at 1 ms per chunk.
  const double mbps = level_bytes("cachegen:level=5") * 8 / 1e6;
  const LinkRun r = run_link("const:mbps=" + std::to_string(mbps), 0.010, 1e-3 / kChunk);
  EXPECT_EQ(r.choices, std::vector<std::string>(5, "recompute"));
  EXPECT_EQ(r.report.bytes_fetched, 0u);
}

TEST(LoaderOnLink, StepDropMovesLaterChunksToALowerLevel) {
  // Level 1 takes 1 ms per chunk until 2 ms, then the link drops 20x: chunk 2
  // (decided before the drop showed) takes 20 ms; the deadline leaves the
  // remaining 1.16 chunks room at level 5 only (30% margin).
  const double s1 = level_bytes("cachegen:level=1"), s5 = level_bytes("cachegen:level=5");
  const double mbps = s1 * 8 / 1e6 / 1e-3;
  const double deadline = 0.002 + 0.020 + 0.020 * s5 / s1 * (1 + 10.0 / kChunk) * 1.3;
  const LinkRun r = run_link("step:mbps=" + std::to_string(mbps) + ",drop_at_ms=2,factor=20", deadline, 1.0);
  EXPECT_EQ(r.choices[0], "cachegen:level=1");
  EXPECT_EQ(r.choices[1], "cachegen:level=1");
  EXPECT_NE(r.choices[3], "cachegen:level=1");
  EXPECT_NE(r.choices[3], "recompute");
  // Chunk 4 is planned at a lower level too, but the size model is linear in
  // tokens, so its 10-token frame's overhead is underestimated: it would arrive
  // after the deadline, and is cut there and recomputed.
  EXPECT_EQ(r.report.chunks[4].note.rfind("deadline: ", 0), 0u) << r.report.chunks[4].note;
  EXPECT_EQ(r.report.chunks[4].note.find("cachegen:level=1"), std::string::npos) << r.report.chunks[4].note;
  EXPECT_LT(r.report.ttft_seconds, deadline + 1e-6);
  EXPECT_LT(r.report.chunks[4].bandwidth_mbps, mbps / 5);  // the estimate saw the drop
}

TEST(LoaderOnLink, InfeasibleDeadlineIsBestEffortUntilItPasses) {
  // Level 5 takes 1 s per chunk, recompute 64 s; the deadline allows 2.5 s.
  const double mbps = level_bytes("cachegen:level=5") * 8 / 1e6;
  const LinkRun r = run_link("const:mbps=" + std::to_string(mbps), 2.5, 1.0);
  EXPECT_NEAR(r.report.ttft_seconds, 2.5, 1e-6);  // then three recomputes (free in virtual time)
  for (size_t i : {0, 1}) {                       // best effort: the fastest option
    EXPECT_FALSE(r.report.chunks[i].feasible);
    EXPECT_EQ(r.report.chunks[i].note, "infeasible");
    EXPECT_EQ(r.choices[i], "cachegen:level=5");
  }
  // Chunk 2 would arrive at 3 s: abandoned at the deadline, like the rest.
  EXPECT_NEAR(r.report.chunks[2].fetch_ms, 500, 25);  // chunks 0 and 1 took about 1 s each
  for (size_t i : {2, 3, 4}) {
    EXPECT_EQ(r.choices[i], "recompute") << i;
    EXPECT_EQ(r.report.chunks[i].note.rfind("deadline", 0), 0u) << r.report.chunks[i].note;
  }
  EXPECT_EQ(r.report.deadline_chunks, 3u);
}

}  // namespace
}  // namespace kvforge::stream

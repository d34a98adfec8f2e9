#include "kvforge/stream/loader.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "kvforge/stream/bandwidth_estimator.h"

namespace kvforge::stream {

namespace {

// What the fetch thread hands the compute thread for one chunk.
struct Item {
  size_t index = 0;
  int level = -1;  // -1: recompute
  std::string frame;
  Decision decision;
  std::string note;
  double decided_at = 0;
  double fetch_seconds = 0;
  uint64_t bytes = 0;
};

// Tokens [0, keep) of a decoded chunk as a dense export at positions first...
kv::DenseKvF32 to_dense(codec::KvChunk&& chunk, size_t keep, int32_t first) {
  kv::DenseKvF32 out;
  out.shape = {chunk.shape.n_layers, chunk.shape.n_kv_heads, chunk.shape.head_dim};
  out.n_tokens = keep;
  out.positions.resize(keep);
  for (size_t t = 0; t < keep; ++t) out.positions[t] = first + static_cast<int32_t>(t);
  if (keep == chunk.n_tokens) {
    out.k = std::move(chunk.k);
    out.v = std::move(chunk.v);
    return out;
  }
  const size_t hd = static_cast<size_t>(chunk.shape.head_dim);
  out.k.resize(static_cast<size_t>(out.shape.n_layers) * out.shape.n_kv_heads * keep * hd);
  out.v.resize(out.k.size());
  for (int l = 0; l < out.shape.n_layers; ++l) {
    for (int h = 0; h < out.shape.n_kv_heads; ++h) {
      std::memcpy(out.k.data() + out.index(l, h, 0), chunk.k.data() + chunk.index(l, h, 0), keep * hd * sizeof(float));
      std::memcpy(out.v.data() + out.index(l, h, 0), chunk.v.data() + chunk.index(l, h, 0), keep * hd * sizeof(float));
    }
  }
  return out;
}

// Decodes a fetched frame and checks it is chunk i of this context for this model.
Status decode_chunk(const std::string& frame, kv::Recompute& session, size_t n_tokens, size_t first,
                    const LoadOptions& options, core::ThreadPool* pool, codec::KvChunk* out) {
  KVF_ASSIGN_OR_RETURN(codec::FrameInfo info, codec::peek_header(frame));
  const kv::KvShape& shape = session.cache().shape();
  if (info.n_tokens != n_tokens || info.first_position != first || info.shape.n_layers != shape.n_layers ||
      info.shape.n_kv_heads != shape.n_kv_heads || info.shape.head_dim != shape.head_dim) {
    return Status::Corruption("frame holds " + std::to_string(info.n_tokens) + " tokens from position " +
                              std::to_string(info.first_position) + ", expected " + std::to_string(n_tokens) +
                              " from " + std::to_string(first) + " in this model's shape");
  }
  codec::DecodeOptions dopt;
  dopt.expected_fingerprint = session.model_fingerprint();
  dopt.pool = pool;
  dopt.profile = options.profile;
  return codec::decode_frame(frame, out, dopt);
}

}  // namespace

Result<LoadReport> load_context(kv::Recompute& session, ChunkSource& source, std::span<const int32_t> tokens,
                                const LoadOptions& options) {
  if (tokens.empty()) return Status::InvalidArgument("load_context: no tokens");
  if (session.cache().total_slots() != 0 || session.cache().next_position() != 0) {
    return Status::InvalidArgument("load_context: the session must be empty (reset it first)");
  }
  if (options.chunk_tokens == 0) return Status::InvalidArgument("load_context: chunk_tokens must be > 0");
  PlannerConfig config = options.planner;
  bool recompute_all = false;
  if (options.mode == "recompute") {
    recompute_all = true;
  } else if (options.mode != "adaptive") {
    auto it = std::find_if(config.levels.begin(), config.levels.end(),
                           [&](const LevelCost& l) { return l.level == options.mode; });
    if (it == config.levels.end()) {
      std::string valid = "adaptive, recompute";
      for (const auto& l : config.levels) valid += ", " + l.level;
      return Status::InvalidArgument("load_context: unknown mode '" + options.mode + "' (valid: " + valid + ")");
    }
    config.levels = {*it};  // one level, never refused, even where recompute would be faster
    config.deadline_seconds = std::numeric_limits<double>::infinity();
    config.quality_slack = std::numeric_limits<double>::infinity();
  } else if (config.levels.empty()) {
    recompute_all = true;
  }
  core::Clock& clock = options.clock ? *options.clock : *core::Env::Default();
  const double t0 = clock.now_seconds();

  const size_t n = tokens.size(), ct = options.chunk_tokens;
  const store::ChunkKeyer keyer(session.model_fingerprint(), ct);
  const std::vector<store::ChunkKey> keys = keyer.keys(tokens);
  const size_t n_chunks = keys.size();
  std::vector<size_t> chunk_tokens(n_chunks);
  for (size_t i = 0; i < n_chunks; ++i) chunk_tokens[i] = std::min(n, (i + 1) * ct) - i * ct;

  LoadReport report;
  report.tokens = n;
  report.chunks.resize(n_chunks);
  std::string lookup_note;
  try {
    auto stored = source.lookup(keys);
    if (stored.ok()) {
      report.stored_chunks = std::min(*stored, n_chunks);
    } else {
      lookup_note = "source failed: " + stored.status().to_string();
    }
  } catch (const std::exception& e) {
    lookup_note = std::string("source failed: ") + e.what();
  }
  if (!lookup_note.empty()) report.source_failed = true;
  const size_t usable = recompute_all ? 0 : report.stored_chunks;

  std::mutex planner_mu;
  Planner planner(config, chunk_tokens, usable);
  BandwidthEstimator estimator(options.initial_bytes_per_second, options.estimator_window);

  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<Item> queue;
  bool stop = false;

  auto fetch_loop = [&]() {
    bool failed = false;
    for (size_t i = 0; i < n_chunks; ++i) {
      {
        std::lock_guard<std::mutex> lock(q_mu);
        if (stop) return;
      }
      Item it;
      it.index = i;
      {
        std::lock_guard<std::mutex> lock(planner_mu);
        it.decided_at = clock.now_seconds() - t0;
        it.decision = planner.decide(i, it.decided_at, estimator.estimate());
      }
      it.level = it.decision.level;
      if (i >= usable || failed) {
        it.note = failed ? "source failed" : (recompute_all ? "recompute mode" : (!lookup_note.empty() ? lookup_note : "missing"));
      } else {
        it.note = it.decision.feasible ? "planned" : "infeasible";
      }
      if (it.level >= 0) {
        Result<Fetched> got = Status::Internal("no fetch");
        try {
          got = source.fetch_level(keys[i], config.levels[static_cast<size_t>(it.level)].level);
        } catch (const std::exception& e) {
          got = Status::IOError(std::string("source threw: ") + e.what());
        }
        const double now = clock.now_seconds() - t0;
        std::lock_guard<std::mutex> lock(planner_mu);
        if (got.ok()) {
          it.fetch_seconds = got->seconds;
          it.bytes = got->bytes.size();
          estimator.add(static_cast<double>(got->bytes.size()), got->seconds);
          planner.on_fetched(i, now, static_cast<double>(got->bytes.size()));
          it.frame = std::move(got->bytes);
        } else {
          const Status& s = got.status();
          if (s.is_not_found()) {
            it.note = "missing: " + s.to_string();
          } else if (s.is_corruption()) {
            it.note = "corrupt: " + s.to_string();
          } else {
            it.note = "source failed: " + s.to_string();
            failed = true;
            planner.mark_missing_from(i + 1);
          }
          it.level = -1;
          planner.on_fallback(i, now);
        }
      }
      if (failed && i + 1 < n_chunks) planner.mark_missing_from(i + 1);
      std::lock_guard<std::mutex> lock(q_mu);
      queue.push_back(std::move(it));
      q_cv.notify_one();
    }
  };
  std::thread fetcher(fetch_loop);
  struct Joiner {
    std::thread& t;
    std::mutex& mu;
    bool& stop;
    std::condition_variable& cv;
    ~Joiner() {
      {
        std::lock_guard<std::mutex> lock(mu);
        stop = true;
      }
      cv.notify_all();
      if (t.joinable()) t.join();
    }
  } joiner{fetcher, q_mu, stop, q_cv};

  for (size_t i = 0; i < n_chunks; ++i) {
    Item it;
    {
      std::unique_lock<std::mutex> lock(q_mu);
      q_cv.wait(lock, [&] { return !queue.empty(); });
      it = std::move(queue.front());
      queue.pop_front();
    }
    const double c0 = clock.now_seconds();
    const size_t begin = i * ct, count = chunk_tokens[i];
    const bool last = i + 1 == n_chunks;
    ChunkLog& log = report.chunks[i];
    log.index = i;
    log.tokens = count;
    log.feasible = it.decision.feasible;
    log.predicted_ms = (it.decision.predicted_finish - it.decided_at) * 1e3;
    log.bandwidth_mbps = it.decision.bandwidth * 8 / 1e6;
    log.fetch_ms = it.fetch_seconds * 1e3;
    log.bytes = it.bytes;
    report.bytes_fetched += it.bytes;
    bool loaded = false;
    if (it.level >= 0) {
      codec::KvChunk chunk;
      Status s = decode_chunk(it.frame, session, count, begin, options, session.pool(), &chunk);
      if (s.ok()) {
        const size_t keep = last ? count - 1 : count;
        if (keep > 0) {
          KVF_RETURN_IF_ERROR(session.cache().import_tokens(to_dense(std::move(chunk), keep, static_cast<int32_t>(begin))));
        }
        session.cache().set_next_position(static_cast<int32_t>(begin + keep));
        if (last) KVF_RETURN_IF_ERROR(session.recompute(tokens.last(1), &report.logits));
        loaded = true;
        log.choice = config.levels[static_cast<size_t>(it.level)].level;
        ++report.fetched_chunks;
      } else {
        it.note = "corrupt: " + s.to_string();
      }
    }
    if (!loaded) {
      const auto part = tokens.subspan(begin, count);
      KVF_RETURN_IF_ERROR(session.recompute(part, last ? &report.logits : nullptr));
      log.choice = "recompute";
      ++report.recomputed_chunks;
    }
    log.note = it.note;
    const double done = clock.now_seconds();
    log.compute_ms = (done - c0) * 1e3;
    log.actual_ms = (done - t0 - it.decided_at) * 1e3;
    if (!clock.is_virtual()) {
      std::lock_guard<std::mutex> lock(planner_mu);
      planner.on_computed(i, done - t0);
    }
  }
  report.source_failed = report.source_failed ||
                         std::any_of(report.chunks.begin(), report.chunks.end(),
                                     [](const ChunkLog& c) { return c.note.rfind("source failed", 0) == 0; });
  report.ttft_seconds = clock.now_seconds() - t0;
  report.deadline_met = report.ttft_seconds <= options.planner.deadline_seconds;
  return report;
}

Result<Calibration> calibrate(kv::Recompute& session, const store::StoredChunk& sample,
                              const std::vector<std::string>& levels, int reps, const codec::Profile* profile) {
  if (sample.tokens.empty()) return Status::InvalidArgument("calibrate: the sample chunk has no tokens");
  const double n = static_cast<double>(sample.tokens.size());
  core::Clock& clock = *core::Env::Default();
  Calibration cal;
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < std::max(1, reps); ++r) {
    session.reset();
    const double t = clock.now_seconds();
    KVF_RETURN_IF_ERROR(session.recompute(sample.tokens, nullptr));
    best = std::min(best, clock.now_seconds() - t);
  }
  cal.prefill_seconds_per_token = best / n;
  for (const std::string& level : levels) {
    KVF_ASSIGN_OR_RETURN(auto codec, codec::make_codec(level));
    const store::LevelFrame* frame = sample.find(codec->spec());
    if (!frame) return Status::NotFound("calibrate: the sample chunk has no level " + codec->spec());
    LevelCost cost;
    cost.level = codec->spec();
    cost.bytes_per_token = static_cast<double>(frame->frame.size()) / n;
    double dbest = std::numeric_limits<double>::infinity();
    for (int r = 0; r < std::max(1, reps); ++r) {
      session.reset();
      const double t = clock.now_seconds();
      codec::KvChunk chunk;
      codec::DecodeOptions dopt;
      dopt.pool = session.pool();
      dopt.profile = profile;
      KVF_RETURN_IF_ERROR(codec::decode_frame(frame->frame, &chunk, dopt));
      KVF_RETURN_IF_ERROR(session.cache().import_tokens(
          to_dense(std::move(chunk), sample.tokens.size(), static_cast<int32_t>(sample.first_position))));
      dbest = std::min(dbest, clock.now_seconds() - t);
    }
    cost.decode_seconds_per_token = dbest / n;
    cal.levels.push_back(cost);
  }
  return cal;
}

}  // namespace kvforge::stream

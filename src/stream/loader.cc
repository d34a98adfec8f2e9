#include "kvforge/stream/loader.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "kvforge/stream/bandwidth_estimator.h"
#include "kvforge/stream/content_check.h"
#include "stream/chunk_import.h"
#include "stream/fetch_bounds.h"

namespace kvforge::stream {

namespace {

// What the fetch thread hands the compute thread for one chunk.
struct Item {
  size_t index = 0;
  int level = -1;  // -1: recompute
  std::string frame;
  std::string mac;  // the frame's MAC, when its chunk is signed
  Decision decision;
  std::string note;
  double decided_at = 0;
  double fetch_seconds = 0;
  uint64_t bytes = 0;
};

}  // namespace

namespace {

// The levels a load may use, from its mode: every level ("adaptive"), none
// ("recompute", or no levels), or one named level, never refused.
Status resolve_mode(const LoadOptions& options, PlannerConfig* config, bool* recompute_all) {
  *recompute_all = options.mode == "recompute" || (options.mode == "adaptive" && config->levels.empty());
  if (options.mode == "recompute" || options.mode == "adaptive") return Status::OK();
  auto it = std::find_if(config->levels.begin(), config->levels.end(),
                         [&](const LevelCost& l) { return l.level == options.mode; });
  if (it == config->levels.end()) {
    std::string valid = "adaptive, recompute";
    for (const auto& l : config->levels) valid += ", " + l.level;
    return Status::InvalidArgument("load_context: unknown mode '" + options.mode + "' (valid: " + valid + ")");
  }
  config->levels = {*it};  // even where recompute would be faster
  config->deadline_seconds = std::numeric_limits<double>::infinity();
  config->quality_slack = std::numeric_limits<double>::infinity();
  return Status::OK();
}

// One load: a fetch thread deciding and fetching chunk i+1 while the calling
// thread decodes and imports (or recomputes) chunk i.
class Load {
 public:
  Load(kv::Recompute& session, ChunkSource& source, std::span<const int32_t> tokens, const LoadOptions& options,
       PlannerConfig config, bool recompute_all)
      : session_(session), source_(source), tokens_(tokens), options_(options), config_(std::move(config)),
        recompute_all_(recompute_all), clock_(options.clock ? *options.clock : *core::Env::Default()),
        t0_(clock_.now_seconds()),
        keys_(store::ChunkKeyer(session.model_fingerprint(), options.chunk_tokens).keys(tokens)),
        estimator_(options.initial_bytes_per_second, options.estimator_window) {}

  Result<LoadReport> run() {
    const size_t n = tokens_.size(), ct = options_.chunk_tokens;
    for (size_t i = 0; i < keys_.size(); ++i) chunk_tokens_.push_back(std::min(n, (i + 1) * ct) - i * ct);
    report_.tokens = n;
    report_.chunks.resize(keys_.size());
    lookup_prefix();
    usable_ = recompute_all_ ? 0 : report_.stored_chunks;
    planner_.emplace(config_, chunk_tokens_, usable_);
    std::thread fetcher([this] { fetch_all(); });
    Status computed = compute_all();
    {
      std::lock_guard<std::mutex> lock(q_mu_);
      stop_ = true;
    }
    q_cv_.notify_all();
    fetcher.join();
    KVF_RETURN_IF_ERROR(computed);
    report_.source_failed = report_.source_failed || noted("source failed") > 0;
    report_.deadline_chunks = noted("deadline");
    report_.too_large_chunks = noted("too large");
    report_.too_slow_chunks = noted("too slow");
    report_.ttft_seconds = clock_.now_seconds() - t0_;
    report_.deadline_met = report_.ttft_seconds <= options_.planner.deadline_seconds;
    return std::move(report_);
  }

 private:
  size_t noted(std::string_view prefix) const {
    return static_cast<size_t>(std::count_if(report_.chunks.begin(), report_.chunks.end(),
                                             [&](const ChunkLog& c) { return c.note.rfind(prefix, 0) == 0; }));
  }

  // Seconds since the load began (the planner's time).
  double now() { return clock_.now_seconds() - t0_; }

  void lookup_prefix() {
    FetchLimits limits;
    limits.timeout_seconds = config_.deadline_seconds - now();
    Status failed;
    try {
      auto stored = source_.lookup(keys_, limits);
      if (stored.ok()) {
        report_.stored_chunks = std::min(*stored, keys_.size());
      } else {
        failed = stored.status();
      }
    } catch (const std::exception& e) {
      failed = Status::IOError(std::string("source threw: ") + e.what());
    }
    if (failed.ok()) return;
    lookup_note_ =
        now() >= config_.deadline_seconds ? "deadline: " + failed.to_string() : "source failed: " + failed.to_string();
    report_.source_failed = true;
  }

  // Fetch thread: decide chunk i, fetch it if a level was chosen, hand it over.
  void fetch_all() {
    for (size_t i = 0; i < keys_.size(); ++i) {
      {
        std::lock_guard<std::mutex> lock(q_mu_);
        if (stop_) return;
      }
      Item it = decide(i);
      if (it.level >= 0) fetch(i, &it);
      if (failed_ && i + 1 < keys_.size()) {
        std::lock_guard<std::mutex> lock(planner_mu_);
        planner_->mark_missing_from(i + 1);
      }
      std::lock_guard<std::mutex> lock(q_mu_);
      queue_.push_back(std::move(it));
      q_cv_.notify_one();
    }
  }

  Item decide(size_t i) {
    Item it;
    it.index = i;
    {
      std::lock_guard<std::mutex> lock(planner_mu_);
      it.decided_at = clock_.now_seconds() - t0_;
      it.decision = planner_->decide(i, it.decided_at, estimator_.estimate());
    }
    it.level = it.decision.level;
    if (it.level >= 0 && it.decided_at >= config_.deadline_seconds) {
      // Past the deadline the network gets no more time: recompute is bounded.
      std::lock_guard<std::mutex> lock(planner_mu_);
      planner_->on_fallback(i, it.decided_at);
      it.level = -1;
      it.note = "deadline";
      return it;
    }
    if (i >= usable_ || failed_) {
      it.note = failed_ ? "source failed"
                        : (recompute_all_ ? "recompute mode" : (!lookup_note_.empty() ? lookup_note_ : "missing"));
    } else {
      it.note = it.decision.feasible ? "planned" : "infeasible";
    }
    return it;
  }

  // The deadline, the level's worst-case frame size and the slow rule bound
  // the fetch; when it fails, chunk i is recomputed (fallback_note says why).
  void fetch(size_t i, Item* it) {
    const size_t l = static_cast<size_t>(it->level);
    const std::string& level = config_.levels[l].level;
    auto watch = std::make_shared<FetchWatch>();
    const double start = now();
    FetchLimits limits;
    {
      std::lock_guard<std::mutex> lock(planner_mu_);
      const double n = static_cast<double>(chunk_tokens_[i]);
      SlowRule rule{options_.slow_grace_seconds, it->decision.bandwidth / options_.slow_factor,
                    planner_->config().levels[l].bytes_per_token * n, config_.deadline_seconds - start};
      auto cap = codec::max_encoded_size(session_.cache().shape(), chunk_tokens_[i], level);
      limits = fetch_limits(rule.time_left, cap.ok() ? *cap : std::numeric_limits<uint64_t>::max(), rule, watch);
    }
    Result<Fetched> got = Status::Internal("no fetch");
    try {
      got = source_.fetch_level(keys_[i], level, limits);
    } catch (const std::exception& e) {
      got = Status::IOError(std::string("source threw: ") + e.what());
    }
    const double end = now();
    std::lock_guard<std::mutex> lock(planner_mu_);
    if (got.ok()) {
      it->fetch_seconds = got->seconds;
      it->bytes = got->bytes.size();
      estimator_.add(static_cast<double>(got->bytes.size()), got->seconds);
      planner_->on_fetched(i, end, static_cast<double>(got->bytes.size()));
      it->frame = std::move(got->bytes);
      it->mac = std::move(got->mac);
      return;
    }
    it->fetch_seconds = end - start;
    std::lock_guard<std::mutex> seen(watch->mu);
    // A slow link is what later decisions must know (a silent one counts as one byte).
    if (watch->slow) estimator_.add(std::max<double>(1, static_cast<double>(watch->bytes)), watch->seconds);
    // A source that stops at the limit it was given may wake an ulp before it.
    const bool past_deadline = end + 1e-6 >= config_.deadline_seconds;
    it->note = fallback_note(got.status(), watch->slow, past_deadline, &failed_);
    if (failed_) planner_->mark_missing_from(i + 1);
    it->level = -1;
    planner_->on_fallback(i, end);
  }

  Status compute_all() {
    for (size_t i = 0; i < keys_.size(); ++i) {
      Item it;
      {
        std::unique_lock<std::mutex> lock(q_mu_);
        q_cv_.wait(lock, [&] { return !queue_.empty(); });
        it = std::move(queue_.front());
        queue_.pop_front();
      }
      KVF_RETURN_IF_ERROR(compute(i, it));
    }
    return Status::OK();
  }

  // With a store secret, chunk i's fetched level must be signed for these tokens.
  Status authenticate(size_t i, const Item& it) const {
    if (options_.signer == nullptr) return Status::OK();
    const size_t begin = i * options_.chunk_tokens;
    return options_.signer->verify_level(keys_[i], static_cast<uint32_t>(i), static_cast<uint32_t>(begin),
                                         tokens_.subspan(begin, chunk_tokens_[i]),
                                         config_.levels[static_cast<size_t>(it.level)].level, it.frame, it.mac);
  }

  // Imports chunk i as fetched, or recomputes it; the last chunk's last token
  // always runs through the model so its logits are ready.
  Status compute(size_t i, Item& it) {
    const double c0 = clock_.now_seconds();
    const size_t begin = i * options_.chunk_tokens, count = chunk_tokens_[i];
    const bool last = i + 1 == keys_.size();
    ChunkLog& log = start_log(i, it);
    bool loaded = false;
    if (it.level >= 0) {
      codec::KvChunk chunk;
      ContentCheck check;
      Status s = authenticate(i, it);
      if (s.ok()) {
        s = decode_chunk(it.frame, session_, tokens_.subspan(begin, count), begin, options_, session_.pool(), &chunk,
                         &check);
      }
      log.check_ms = check.seconds * 1e3;
      if (check.mismatch) ++report_.content_mismatches;
      if (s.ok()) {
        const size_t keep = last ? count - 1 : count;
        if (keep > 0) {
          KVF_RETURN_IF_ERROR(
              session_.cache().import_tokens(keep_prefix(std::move(chunk), keep, static_cast<int32_t>(begin))));
        }
        session_.cache().set_next_position(static_cast<int32_t>(begin + keep));
        if (last) KVF_RETURN_IF_ERROR(session_.recompute(tokens_.last(1), &report_.logits));
        loaded = true;
        log.choice = config_.levels[static_cast<size_t>(it.level)].level;
        ++report_.fetched_chunks;
      } else {
        it.note = "corrupt: " + s.to_string();
      }
    }
    if (!loaded) {
      KVF_RETURN_IF_ERROR(session_.recompute(tokens_.subspan(begin, count), last ? &report_.logits : nullptr));
      log.choice = "recompute";
      ++report_.recomputed_chunks;
    }
    log.note = it.note;
    const double done = clock_.now_seconds();
    log.compute_ms = (done - c0) * 1e3;
    log.actual_ms = (done - t0_ - it.decided_at) * 1e3;
    if (!clock_.is_virtual()) {
      std::lock_guard<std::mutex> lock(planner_mu_);
      planner_->on_computed(i, done - t0_);
    }
    return Status::OK();
  }

  ChunkLog& start_log(size_t i, const Item& it) {
    ChunkLog& log = report_.chunks[i];
    log.index = i;
    log.tokens = chunk_tokens_[i];
    log.feasible = it.decision.feasible;
    log.predicted_ms = (it.decision.predicted_finish - it.decided_at) * 1e3;
    log.bandwidth_mbps = it.decision.bandwidth * 8 / 1e6;
    log.fetch_ms = it.fetch_seconds * 1e3;
    log.bytes = it.bytes;
    report_.bytes_fetched += it.bytes;
    return log;
  }

  kv::Recompute& session_;
  ChunkSource& source_;
  const std::span<const int32_t> tokens_;
  const LoadOptions& options_;
  const PlannerConfig config_;
  const bool recompute_all_;
  core::Clock& clock_;
  const double t0_;
  const std::vector<store::ChunkKey> keys_;
  std::vector<size_t> chunk_tokens_;
  LoadReport report_;
  std::string lookup_note_;
  size_t usable_ = 0;
  bool failed_ = false;  // fetch thread only

  std::mutex planner_mu_;  // guards planner_ and estimator_
  std::optional<Planner> planner_;
  BandwidthEstimator estimator_;

  std::mutex q_mu_;  // guards queue_ and stop_
  std::condition_variable q_cv_;
  std::deque<Item> queue_;
  bool stop_ = false;
};

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
  KVF_RETURN_IF_ERROR(resolve_mode(options, &config, &recompute_all));
  Load load(session, source, tokens, options, std::move(config), recompute_all);
  return load.run();
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
          keep_prefix(std::move(chunk), sample.tokens.size(), static_cast<int32_t>(sample.first_position))));
      dbest = std::min(dbest, clock.now_seconds() - t);
    }
    cost.decode_seconds_per_token = dbest / n;
    cal.levels.push_back(cost);
  }
  return cal;
}

}  // namespace kvforge::stream

// Tiers 2 and 3: a prompt's stored chunk prefix loaded by the adaptive loader,
// and its new complete chunks put to the store in the background.
#include <iostream>

#include "kvforge/store/chunk_encoder.h"
#include "kvforge/store/chunk_key.h"
#include "serve/engine_impl.h"

namespace kvforge::serve {

namespace {

void log_store_error(const std::string& what, const Status& s) {
  std::cerr << "kvforge serve: store " << what << " failed, recomputing: " << s.to_string() << "\n";
}

}  // namespace

// Loads the longest stored chunk prefix of `prompt` when it is longer than the
// `have` tokens memory gave; returns the prompt tokens now in the cache. A
// failing store costs a recompute, never the request.
size_t Engine::Impl::reuse_store(Slot& s, std::span<const int32_t> prompt, size_t have) {
  if (!options.store) return have;
  const store::ChunkKeyer keyer(options.model->fingerprint(), store::kDefaultChunkTokens);
  const size_t chunk = keyer.chunk_tokens(), full = prompt.size() / chunk;
  if (full == 0) return have;
  const std::vector<store::ChunkKey> keys = keyer.keys(prompt.first(full * chunk));
  stream::FetchLimits limits;
  limits.timeout_seconds = options.ttft_deadline_ms / 1e3;
  auto stored = options.store->source().lookup(keys, limits);
  if (!stored.ok()) {
    ++metrics.store_errors;
    log_store_error("lookup", stored.status());
    return have;
  }
  s.stored_chunks = *stored;
  if (*stored * chunk <= have) return have;
  if (!calibration) {
    auto sample = options.store->sample(keys[0]);
    if (!sample.ok()) {
      ++metrics.store_errors;
      log_store_error("read of a calibration chunk", sample.status());
      return have;
    }
    std::vector<std::string> levels;
    for (const auto& l : sample->levels) levels.push_back(l.level);
    auto cal = stream::calibrate(*s.session, *sample, levels);
    if (!cal.ok()) return have;
    calibration = std::move(*cal);
  }
  stream::LoadOptions lo;
  lo.planner.levels = calibration->levels;
  lo.planner.prefill_seconds_per_token = calibration->prefill_seconds_per_token;
  lo.planner.deadline_seconds = options.ttft_deadline_ms / 1e3;
  lo.chunk_tokens = chunk;
  s.session->reset();
  s.tokens.clear();
  auto report = stream::load_context(*s.session, options.store->source(), prompt.first(*stored * chunk), lo);
  if (!report.ok()) {
    ++metrics.store_errors;
    log_store_error("load", report.status());
    s.session->reset();
    return 0;
  }
  if (report->source_failed) ++metrics.store_errors;
  metrics.store_bytes_fetched += report->bytes_fetched;
  for (const stream::ChunkLog& c : report->chunks) {
    if (c.choice == "recompute") {
      metrics.recomputed_tokens += c.tokens;
    } else {
      metrics.add_store_tokens(c.choice, c.tokens);
      s.usage.store_tokens += c.tokens;
    }
  }
  s.logits = std::move(report->logits);
  s.tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(*stored * chunk));
  return *stored * chunk;
}

// The prompt's complete chunks the store lacks, encoded and put by the
// background worker from a copy of their KV (the slot goes on decoding).
void Engine::Impl::queue_store_puts(Slot& s) {
  const std::vector<std::string>& levels = s.job.request.kv.store_levels;
  if (!options.store || levels.empty()) return;
  const std::vector<int32_t>& prompt = s.job.request.prompt;
  const store::ChunkKeyer keyer(options.model->fingerprint(), store::kDefaultChunkTokens);
  const size_t chunk = keyer.chunk_tokens(), full = prompt.size() / chunk;
  if (full <= s.stored_chunks) return;
  auto encoder = store::ChunkEncoder::make(levels, options.model->fingerprint());
  if (!encoder.ok()) {
    log_store_error("encoder", encoder.status());
    return;
  }
  const std::vector<store::ChunkKey> keys = keyer.keys(std::span(prompt).first(full * chunk));
  for (size_t i = s.stored_chunks; i < full; ++i) {
    auto kv = std::make_shared<kv::DenseKvF32>();
    if (!s.session->cache().export_range(i * chunk, (i + 1) * chunk, kv.get()).ok()) return;
    std::vector<int32_t> tokens(prompt.begin() + static_cast<std::ptrdiff_t>(i * chunk),
                                prompt.begin() + static_cast<std::ptrdiff_t>((i + 1) * chunk));
    {
      std::lock_guard<std::mutex> lock(puts_mu);
      ++puts_pending;
    }
    put_worker->post([this, enc = *encoder, key = keys[i], i, chunk, kv, tokens = std::move(tokens)] {
      auto stored = enc.encode(key, static_cast<uint32_t>(i), static_cast<uint32_t>(i * chunk), tokens, kv->view());
      Status st = stored.ok() ? options.store->put(*stored) : stored.status();
      if (st.ok()) {
        ++metrics.store_puts;
      } else {
        ++metrics.store_put_errors;
        log_store_error("put", st);
      }
      std::lock_guard<std::mutex> lock(puts_mu);
      --puts_pending;
      puts_cv.notify_all();
    });
  }
}

}  // namespace kvforge::serve

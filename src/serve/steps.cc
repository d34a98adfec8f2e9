// The scheduler's steps: a prefill chunk, a batched decode, and what happens
// to each sampled token.
#include <algorithm>

#include "serve/engine_impl.h"

namespace kvforge::serve {

namespace {

double ms_since(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

}  // namespace

// One chunk of one prompt: slots take turns, oldest request first, so a long
// prompt delays the running streams by one chunk's time per step.
void Engine::Impl::prefill_step() {
  Slot* next = nullptr;
  for (Slot& s : slots) {
    if (s.phase != Slot::Phase::kPrefill) continue;
    if (next == nullptr || s.job.submitted < next->job.submitted) next = &s;
  }
  if (next == nullptr) return;
  Slot& s = *next;
  const std::vector<int32_t>& prompt = s.job.request.prompt;
  const size_t n = std::min(static_cast<size_t>(options.prefill_chunk), prompt.size() - s.prefilled);
  const bool last = s.prefilled + n == prompt.size();
  const std::span<const int32_t> part(prompt.data() + s.prefilled, n);
  Status st = s.session->forward(part, last ? model::LogitsMode::kLast : model::LogitsMode::kNone, &s.logits);
  if (!st.ok()) {
    finish(s, "error", st);
    return;
  }
  metrics.recomputed_tokens += n;
  s.tokens.insert(s.tokens.end(), part.begin(), part.end());
  s.prefilled += n;
  if (last) prompt_done(s);
}

// The prompt is in the cache: store its new chunks, apply the request's
// eviction or retrieval, and sample the first token.
void Engine::Impl::prompt_done(Slot& s) {
  metrics.prompt_tokens += s.job.request.prompt.size();
  queue_store_puts(s);
  if (s.evictor) {
    if (Status st = s.evictor->evict_to_budget(evict::Phase::kPrefill); !st.ok()) return finish(s, "error", st);
    s.dense = false;
  }
  if (s.retrieval) {
    if (Status st = s.retrieval->build(s.session->cache(), s.session->pool()); !st.ok()) return finish(s, "error", st);
    s.session->set_selector(s.retrieval.get());
  }
  s.ttft_ms = ms_since(s.job.submitted);
  metrics.record_ttft(s.ttft_ms / 1e3);
  s.phase = Slot::Phase::kDecode;
  if (s.job.request.max_tokens == 0) return finish(s, "length");
  take_token(s, s.sampler->sample(s.logits));
}

// A sampled token: the end of generation, or text for the client and the next
// decode step's input.
void Engine::Impl::take_token(Slot& s, int32_t token) {
  const model::Tokenizer& tok = *options.model->tokenizer();
  if (tok.is_eog(token)) return finish(s, "stop");
  ++s.generated;
  ++metrics.generated_tokens;
  bool stopped = false;
  s.job.stream->push(s.emitter->push(token, &stopped));
  if (stopped) return finish(s, "stop");
  if (s.generated >= s.job.request.max_tokens) return finish(s, "length");
  if (s.session->next_position() >= s.session->max_positions()) return finish(s, "length");
  s.next_token = token;
}

// Every decoding slot advances one token: those without eviction in one
// batched pass over the weights, the others (eviction follows each step) alone.
void Engine::Impl::decode_step() {
  std::vector<Slot*> together;
  std::vector<model::Session*> sessions;
  std::vector<int32_t> tokens;
  for (Slot& s : slots) {
    if (s.phase != Slot::Phase::kDecode) continue;
    if (s.decodes_alone()) {
      Status st = s.evictor->decode(s.next_token, &s.logits);
      if (!st.ok()) {
        finish(s, "error", st);
        continue;
      }
      take_token(s, s.sampler->sample(s.logits));
      continue;
    }
    together.push_back(&s);
    sessions.push_back(s.session.get());
    tokens.push_back(s.next_token);
  }
  if (together.empty()) return;
  std::vector<float> logits;
  Status st = decode_together(sessions, tokens, &logits);
  if (!st.ok()) {
    for (Slot* s : together) finish(*s, "error", st);
    return;
  }
  ++metrics.decode_steps;
  metrics.decode_batch_tokens += together.size();
  const size_t vocab = static_cast<size_t>(options.model->config().vocab_size);
  for (size_t i = 0; i < together.size(); ++i) {
    Slot& s = *together[i];
    s.tokens.push_back(tokens[i]);
    std::span<float> row(logits.data() + i * vocab, vocab);
    take_token(s, s.sampler->sample(row));
  }
}

Status Engine::Impl::decode_together(std::span<model::Session* const> sessions, std::span<const int32_t> tokens,
                                     std::vector<float>* logits) {
  const size_t vocab = static_cast<size_t>(options.model->config().vocab_size);
  logits->resize(sessions.size() * vocab);
  std::vector<float> row;
  for (size_t i = 0; i < sessions.size(); ++i) {
    KVF_RETURN_IF_ERROR(sessions[i]->decode(tokens[i], &row));
    std::copy(row.begin(), row.end(), logits->begin() + static_cast<std::ptrdiff_t>(i * vocab));
  }
  return Status::OK();
}

void Engine::Impl::finish(Slot& s, const std::string& reason, Status status) {
  if (reason == "error") {
    ++metrics.failed;
    s.dense = false;  // the cache may hold part of a step: not reused
  }
  s.session->set_selector(nullptr);
  s.evictor.reset();
  s.retrieval.reset();
  if (s.emitter && reason != "error") s.job.stream->push(s.emitter->flush());
  s.usage.completion_tokens = static_cast<size_t>(s.generated);
  s.phase = Slot::Phase::kFree;
  s.job.stream->finish({.finish_reason = reason, .usage = s.usage, .status = status, .ttft_ms = s.ttft_ms});
}

}  // namespace kvforge::serve

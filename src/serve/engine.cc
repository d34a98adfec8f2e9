#include "kvforge/serve/engine.h"

#include <algorithm>

#include "serve/engine_impl.h"

namespace kvforge::serve {

Engine::Impl::~Impl() = default;

size_t Engine::Impl::busy_slots() const {
  return static_cast<size_t>(std::count_if(slots.begin(), slots.end(), [](const Slot& s) { return s.busy(); }));
}

// Free slots take queued requests; a cancelled one is answered at once.
void Engine::Impl::admit() {
  for (Slot& s : slots) {
    if (s.busy()) continue;
    Queued job;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (queue.empty()) return;
      job = std::move(queue.front());
      queue.pop_front();
    }
    if (job.stream->cancelled()) {
      ++metrics.cancelled;
      job.stream->finish({.finish_reason = "cancelled"});
      continue;
    }
    if (Status st = start_request(s, std::move(job)); !st.ok()) finish(s, "error", st);
  }
}

// One round: admissions, one prefill chunk, one batched decode step, and the
// slots of clients that went away freed. False when there was nothing to do.
bool Engine::Impl::step() {
  admit();
  for (Slot& s : slots) {
    if (s.busy() && s.job.stream->cancelled()) {
      ++metrics.cancelled;
      finish(s, "cancelled");
    }
  }
  const bool prefilling = std::any_of(slots.begin(), slots.end(),
                                      [](const Slot& s) { return s.phase == Slot::Phase::kPrefill; });
  const bool decoding = std::any_of(slots.begin(), slots.end(),
                                    [](const Slot& s) { return s.phase == Slot::Phase::kDecode; });
  if (prefilling) prefill_step();
  if (decoding) decode_step();
  return prefilling || decoding;
}

void Engine::Impl::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (stopping) break;
      if (busy_slots() == 0) cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) break;
    }
    step();
  }
  for (Slot& s : slots) {
    if (s.busy()) finish(s, "cancelled");
  }
  std::lock_guard<std::mutex> lock(mu);
  for (Queued& q : queue) q.stream->finish({.finish_reason = "cancelled"});
  queue.clear();
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { stop(); }

Result<std::unique_ptr<Engine>> Engine::start(EngineOptions options) {
  if (!options.model) return Status::InvalidArgument("serve: no model");
  if (options.model->tokenizer() == nullptr) return Status::InvalidArgument("serve: the model has no vocabulary");
  if (options.parallel < 1) return Status::InvalidArgument("serve: --parallel must be at least 1");
  auto impl = std::make_unique<Impl>();
  const int model_ctx = options.model->config().context_length;
  impl->ctx = options.ctx > 0 ? std::min(options.ctx, model_ctx) : std::min(model_ctx, 4096);
  impl->prefix_cache = PrefixCache(options.cache_ram_bytes);
  if (options.prefill_chunk < 1) options.prefill_chunk = 1;
  impl->options = std::move(options);
  for (int i = 0; i < impl->options.parallel; ++i) {
    Slot s;
    s.id = i;
    s.session = std::make_unique<model::Session>(
        impl->options.model, model::SessionOptions{.n_threads = impl->options.n_threads, .max_positions = impl->ctx});
    impl->slots.push_back(std::move(s));
  }
  impl->put_worker = std::make_unique<core::BackgroundWorker>();
  Impl* raw = impl.get();
  impl->scheduler = std::thread([raw] { raw->run(); });
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Result<std::shared_ptr<RequestStream>> Engine::submit(Request request) {
  Impl& m = *impl_;
  if (request.prompt.empty()) return Status::InvalidArgument("the prompt is empty");
  if (request.prompt.size() >= static_cast<size_t>(m.ctx)) {
    return Status::InvalidArgument("the prompt has " + std::to_string(request.prompt.size()) +
                                   " tokens; the context is " + std::to_string(m.ctx) +
                                   " tokens (--ctx), and at least one must be left to generate");
  }
  if (request.max_tokens < 0) return Status::InvalidArgument("max_tokens must be >= 0");
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= m.options.model->config().vocab_size) {
      return Status::InvalidArgument("prompt token id " + std::to_string(t) + " is outside the vocabulary");
    }
  }
  KVF_RETURN_IF_ERROR(check_kv_options(request.kv, m.options.defaults));
  auto stream = std::make_shared<RequestStream>();
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.stopping) return Status::ResourceExhausted("the server is stopping");
    if (m.queue.size() >= m.options.queue_limit) {
      ++m.metrics.refused_queue_full;
      return Status::ResourceExhausted("the queue is full (" + std::to_string(m.options.queue_limit) +
                                       " requests waiting for " + std::to_string(m.slots.size()) + " slots)");
    }
    m.queue.push_back({std::move(request), stream, SteadyClock::now()});
    ++m.metrics.requests;
  }
  m.cv.notify_one();
  return stream;
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return {impl_->queue.size(), impl_->busy_slots(), impl_->slots.size()};
}

std::string Engine::metrics_text() const {
  const EngineStats s = stats();
  return impl_->metrics.text(s.queued, s.active, s.slots);
}

const model::LlamaModel& Engine::model() const { return *impl_->options.model; }

int Engine::ctx() const { return impl_->ctx; }

void Engine::flush_store_puts() {
  std::unique_lock<std::mutex> lock(impl_->puts_mu);
  impl_->puts_cv.wait(lock, [&] { return impl_->puts_pending == 0; });
}

void Engine::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping && !impl_->scheduler.joinable()) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->scheduler.joinable()) impl_->scheduler.join();
  impl_->put_worker.reset();  // finishes the put in progress, drops the rest
}

}  // namespace kvforge::serve

// A request into a slot: its KV options, then the longest prompt prefix whose
// KV can be reused, from memory (tier 1) or the store (tier 2).
#include <chrono>

#include "kvforge/codec/codec.h"
#include "kvforge/evict/registry.h"
#include "kvforge/store/chunk_key.h"
#include "serve/engine_impl.h"

namespace kvforge::serve {

namespace {

void fill_defaults(KvOptions* kv, const KvOptions& defaults) {
  if (kv->policy.empty() && kv->budget.empty()) {
    kv->policy = defaults.policy;
    kv->budget = defaults.budget;
  }
  if (kv->pq.empty()) kv->pq = defaults.pq;
  if (kv->store_levels.empty()) kv->store_levels = defaults.store_levels;
}

uint64_t fresh_seed() {
  return static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) | 1;
}

}  // namespace

Status check_kv_options(const KvOptions& requested, const KvOptions& defaults) {
  KvOptions kv = requested;
  fill_defaults(&kv, defaults);
  if (kv.policy.empty() != kv.budget.empty()) return Status::InvalidArgument("kv_policy and kv_budget go together");
  if (!kv.policy.empty()) {
    if (!kv.pq.empty()) return Status::InvalidArgument("kv_policy and pq_ratio cannot be combined");
    KVF_RETURN_IF_ERROR(evict::make_policy(kv.policy).status().with_context("kv_policy"));
    KVF_RETURN_IF_ERROR(evict::Budget::parse(kv.budget).status().with_context("kv_budget"));
  }
  if (!kv.pq.empty()) KVF_RETURN_IF_ERROR(pq::parse_retrieval_spec(kv.pq).status().with_context("pq_ratio"));
  for (const std::string& level : kv.store_levels) {
    KVF_RETURN_IF_ERROR(codec::make_codec(level).status().with_context("kv_store_levels"));
  }
  return Status::OK();
}

Status Engine::Impl::prepare_kv_options(Slot& s) {
  KvOptions& kv = s.job.request.kv;
  s.evictor.reset();
  s.retrieval.reset();
  if (!kv.policy.empty() || !kv.budget.empty()) {
    if (kv.policy.empty() || kv.budget.empty()) return Status::InvalidArgument("kv_policy and kv_budget go together");
    if (!kv.pq.empty()) return Status::InvalidArgument("kv_policy and pq_ratio cannot be combined");
    KVF_ASSIGN_OR_RETURN(std::unique_ptr<evict::Policy> policy, evict::make_policy(kv.policy));
    auto budget = evict::Budget::parse(kv.budget);
    if (!budget.ok()) return budget.status().with_context("kv_budget");
    KVF_ASSIGN_OR_RETURN(s.evictor, eval::EvictionController::create(s.session.get(), std::move(policy), {}));
    const size_t reference = s.job.request.prompt.size() + static_cast<size_t>(s.job.request.max_tokens);
    KVF_RETURN_IF_ERROR(s.evictor->set_budget(*budget, reference));
  }
  if (!kv.pq.empty()) {
    auto options = pq::parse_retrieval_spec(kv.pq);
    if (!options.ok()) return options.status().with_context("pq_ratio");
    KVF_ASSIGN_OR_RETURN(s.retrieval, pq::RetrievalSelector::create(*options, s.session->cache().shape()));
  }
  return Status::OK();
}

// Saves what the slot holds to the RAM prefix cache before another prompt
// overwrites it.
void Engine::Impl::save_slot_prefix(Slot& s) {
  if (!s.dense || s.tokens.empty() || options.cache_ram_bytes == 0) return;
  kv::DenseKvF16 kv;
  if (!s.session->cache().export_range(0, s.tokens.size(), &kv).ok()) return;
  prefix_cache.insert(s.tokens, std::move(kv));
}

// Tier 1: the slot's own cache or the RAM prefix cache, whichever shares more.
// At most prompt.size() - 1 tokens: the last is run for its logits.
size_t Engine::Impl::reuse_memory(Slot& s, std::span<const int32_t> prompt) {
  kv::KvCache& cache = s.session->cache();
  const size_t limit = prompt.size() - 1;
  const size_t own = s.dense ? std::min(common_prefix(s.tokens, prompt), limit) : 0;
  if (own < s.tokens.size()) save_slot_prefix(s);
  PrefixCache::Match m = prefix_cache.best(prompt);
  const size_t from_ram = std::min(m.tokens, limit);
  if (from_ram > own) {
    cache.clear();
    if (cache.import_tokens(core::slice_tokens(*m.kv, 0, from_ram)).ok()) {
      s.tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(from_ram));
      return from_ram;
    }
  }
  if (!cache.truncate(own).ok()) {
    cache.clear();
    s.tokens.clear();
    return 0;
  }
  s.tokens.resize(own);
  return own;
}

Status Engine::Impl::start_request(Slot& s, Queued job) {
  s.job = std::move(job);
  Request& r = s.job.request;
  fill_defaults(&r.kv, options.defaults);
  s.usage = Usage{.prompt_tokens = r.prompt.size()};
  s.generated = 0;
  s.ttft_ms = 0;
  s.stored_chunks = 0;
  s.logits.clear();
  s.session->set_selector(nullptr);
  KVF_RETURN_IF_ERROR(prepare_kv_options(s));
  model::SamplerOptions so{r.sampling.temperature, r.sampling.top_p, r.sampling.seed.value_or(fresh_seed()),
                           r.sampling.top_k};
  KVF_ASSIGN_OR_RETURN(model::Sampler sampler, model::Sampler::create(so));
  s.sampler.emplace(std::move(sampler));
  s.emitter.emplace(options.model->tokenizer(), r.stop, r.prompt.back());
  const size_t memory = reuse_memory(s, r.prompt);
  const size_t have = reuse_store(s, r.prompt, memory);
  s.usage.memory_tokens = have == memory ? memory : 0;
  s.usage.cached_tokens = s.usage.memory_tokens + s.usage.store_tokens;
  metrics.memory_tokens += s.usage.memory_tokens;
  s.prefilled = have;
  s.dense = true;
  s.phase = Slot::Phase::kPrefill;
  if (s.prefilled == r.prompt.size()) prompt_done(s);  // the store held it all
  return Status::OK();
}

}  // namespace kvforge::serve

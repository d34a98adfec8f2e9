#include "kvforge/eval/eviction_controller.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>

namespace kvforge::eval {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Forwards attention rows to the policy and times it. Called concurrently for
// different kv heads, hence the atomic.
class TimingObserver final : public kv::AttentionObserver {
 public:
  explicit TimingObserver(evict::Policy* policy) : policy_(policy) {}
  void on_attention(int layer, int q_head, int kv_head, int32_t query_position, std::span<const int32_t> slots,
                    std::span<const float> probs) override {
    const auto t0 = Clock::now();
    policy_->on_attention(layer, q_head, kv_head, query_position, slots, probs);
    nanos_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count(),
                     std::memory_order_relaxed);
  }
  double seconds() const { return static_cast<double>(nanos_.load(std::memory_order_relaxed)) * 1e-9; }

 private:
  evict::Policy* policy_;
  std::atomic<int64_t> nanos_{0};
};

}  // namespace

EvictionController::EvictionController(model::Session* session, std::unique_ptr<evict::Policy> policy,
                                       ControllerOptions options)
    : session_(session), policy_(std::move(policy)), options_(options) {}

Result<std::unique_ptr<EvictionController>> EvictionController::create(model::Session* session,
                                                                       std::unique_ptr<evict::Policy> policy,
                                                                       ControllerOptions options) {
  if (session == nullptr) return Status::InvalidArgument("eviction controller: no session");
  if (policy == nullptr) return Status::InvalidArgument("eviction controller: no policy");
  if (options.prefill_chunk < 0) {
    return Status::InvalidArgument("eviction controller: prefill_chunk " + std::to_string(options.prefill_chunk) +
                                   " < 0");
  }
  if (options.decode_stride < 1) {
    return Status::InvalidArgument("eviction controller: decode_stride " + std::to_string(options.decode_stride) +
                                   " < 1");
  }
  const auto& config = session->model().config();
  KVF_RETURN_IF_ERROR(policy->attach(evict::PolicyShape{config.n_layers, config.n_heads, config.n_kv_heads}));
  std::unique_ptr<EvictionController> c(new EvictionController(session, std::move(policy), options));
  if (c->policy_->needs_attention()) {
    c->timing_observer_ = std::make_unique<TimingObserver>(c->policy_.get());
    session->set_observer(c->timing_observer_.get());
  }
  return c;
}

EvictionController::~EvictionController() {
  if (timing_observer_) session_->set_observer(nullptr);
}

double EvictionController::policy_seconds() const {
  double s = policy_seconds_;
  if (timing_observer_) s += static_cast<const TimingObserver*>(timing_observer_.get())->seconds();
  return s;
}

Status EvictionController::set_budget(const evict::Budget& budget, size_t reference_tokens) {
  const size_t slots = budget.slots(reference_tokens);
  if (!policy_->unbounded()) {
    const size_t need =
        std::max(policy_->min_keep(evict::Phase::kPrefill, slots), policy_->min_keep(evict::Phase::kDecode, slots));
    if (slots < need) {
      return Status::InvalidArgument("budget " + budget.to_string() + " gives " + std::to_string(slots) +
                                     " slots per kv head (reference " + std::to_string(reference_tokens) +
                                     " tokens), below the " + std::to_string(need) + " slots policy " +
                                     policy_->name() + " always keeps (sinks + protected recent window)");
    }
  }
  budget_slots_ = slots;
  budget_set_ = true;
  return Status::OK();
}

size_t EvictionController::prefill_chunk() const {
  if (options_.prefill_chunk > 0) return static_cast<size_t>(options_.prefill_chunk);
  if (policy_->stride() > 0) return static_cast<size_t>(policy_->stride());
  return std::max<size_t>(1, budget_slots_ / 8);
}

Status EvictionController::prefill(std::span<const int32_t> tokens, model::LogitsMode mode,
                                   std::vector<float>* logits) {
  const bool evicting = budget_set_ && !policy_->unbounded();
  if (!evicting) return session_->forward(tokens, mode, logits);
  if (logits != nullptr) logits->clear();
  const size_t chunk = prefill_chunk();
  size_t offset = 0;
  while (offset < tokens.size()) {
    const size_t held = session_->cache().max_head_size();
    const size_t room = budget_slots_ > held ? budget_slots_ - held : 0;
    const size_t len = std::min(std::max(chunk, room), tokens.size() - offset);
    const bool last = offset + len == tokens.size();
    model::LogitsMode chunk_mode = model::LogitsMode::kNone;
    if (mode == model::LogitsMode::kAll) chunk_mode = model::LogitsMode::kAll;
    if (mode == model::LogitsMode::kLast && last) chunk_mode = model::LogitsMode::kLast;
    chunk_logits_.clear();
    KVF_RETURN_IF_ERROR(session_->forward(tokens.subspan(offset, len), chunk_mode, &chunk_logits_));
    if (logits != nullptr && chunk_mode != model::LogitsMode::kNone) {
      logits->insert(logits->end(), chunk_logits_.begin(), chunk_logits_.end());
    }
    offset += len;
    KVF_RETURN_IF_ERROR(evict_to_budget(evict::Phase::kPrefill));
  }
  return Status::OK();
}

Status EvictionController::decode(int32_t token, std::vector<float>* logits) {
  KVF_RETURN_IF_ERROR(session_->decode(token, logits));
  if (++steps_since_evict_ >= options_.decode_stride) {
    steps_since_evict_ = 0;
    KVF_RETURN_IF_ERROR(evict_to_budget(evict::Phase::kDecode));
  }
  return Status::OK();
}

Status EvictionController::evict_to_budget(evict::Phase phase) {
  if (!budget_set_ || policy_->unbounded()) return Status::OK();
  kv::KvCache& cache = session_->cache();
  const auto& shape = cache.shape();
  for (int layer = 0; layer < shape.n_layers; ++layer) {
    for (int h = 0; h < shape.n_kv_heads; ++h) {
      kv::KvHead& head = cache.head(layer, h);
      if (head.size() <= budget_slots_) continue;
      victims_.clear();
      auto t0 = Clock::now();
      Status st = policy_->select_victims(layer, h, head, budget_slots_, phase, &victims_);
      policy_seconds_ += seconds_since(t0);
      KVF_RETURN_IF_ERROR(st);
      KVF_RETURN_IF_ERROR(head.remove(victims_).with_context("policy " + policy_->name() + " named a bad victim"));
      t0 = Clock::now();
      policy_->on_evicted(layer, h, victims_);
      policy_seconds_ += seconds_since(t0);
      evicted_total_ += victims_.size();
      if (head.size() > budget_slots_) {
        return Status::Internal("policy " + policy_->name() + " left layer " + std::to_string(layer) + " kv head " +
                                std::to_string(h) + " at " + std::to_string(head.size()) + " slots, budget " +
                                std::to_string(budget_slots_));
      }
    }
  }
  return Status::OK();
}

void EvictionController::reset() {
  session_->reset();
  policy_->reset();
  steps_since_evict_ = 0;
}

}  // namespace kvforge::eval

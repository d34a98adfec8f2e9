// A head's index: built after prefill, extended as tokens leave the local
// window, re-trained at once or on a background worker as the context grows.
#include <algorithm>
#include <cmath>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "kvforge/core/background_worker.h"
#include "kvforge/pq/retrieval.h"
#include "pq/head_index.h"

namespace kvforge::pq {

void RetrievalSelector::add_code(HeadIndex* h, int head_index, const kv::KvHead& head, int32_t slot) {
  const size_t hd = static_cast<size_t>(shape_.head_dim);
  thread_local std::vector<float> key, value;  // the slot's rows as fp32, whatever the cache stores
  key.resize(hd);
  value.resize(hd);
  head.read_key(slot, key.data());
  h->pq.encode(key.data(), 1, &h->codes);
  h->slots.push_back(slot);
  // Positions are never reused, so a token re-coded by a re-training is in the tier already.
  if (tier_ != nullptr && head.position(slot) > h->tier_stored) {
    const int layer = head_index / shape_.n_kv_heads, kvh = head_index % shape_.n_kv_heads;
    head.read_value(slot, value.data());
    if (!tier_->store(layer, kvh, head.position(slot), key.data(), value.data()).ok()) ++h->tier_errors;
    h->tier_stored = head.position(slot);
  }
}

void RetrievalSelector::build_head(HeadIndex* h, int head_index, const kv::KvHead& head,
                                   std::span<const int32_t> live, size_t n_visible) {
  h->built = false;
  h->codes = PackedCodes(options_.m, options_.bits);
  h->slots.clear();
  if (options_.method != Method::kPq) return;
  const BudgetSplit split = split_budget(options_, n_visible);
  const size_t sinks = static_cast<size_t>(options_.sinks);
  const size_t mid_end = std::min(live.size(), n_visible - 1 - std::min(n_visible - 1, split.window));
  if (mid_end <= sinks) return;
  // Trained on every visible key (sinks and window too: more data for the
  // codebooks), codes kept for the middle range only.
  const size_t hd = static_cast<size_t>(shape_.head_dim), n_train = live.size();
  h->keys.resize(n_train * hd);
  for (size_t i = 0; i < n_train; ++i) head.read_key(live[i], &h->keys[i * hd]);
  PqParams p{.dim = shape_.head_dim, .m = options_.m, .bits = options_.bits, .kmeans = {}};
  p.kmeans.iterations = options_.iterations;
  p.kmeans.seed = options_.seed;
  auto trained = ProductQuantizer::train(p, h->keys.data(), n_train, nullptr);
  if (!trained.ok()) return;  // parameters were validated at create(); nothing else can fail
  h->pq = std::move(*trained);
  for (size_t i = sinks; i < mid_end; ++i) add_code(h, head_index, head, live[i]);
  h->trained_on = n_train;
  h->built = true;
}
// The snapshot is copied under the head's lock (the cache may grow while the
// worker trains); training and coding the snapshot run on the worker. The
// result replaces the index at a fixed later context length, not whenever the
// worker finishes, so decoding stays deterministic; by then the worker has had
// a growth of (retrain - 1) / 2 to finish, and decoding only waits when it has not.
void RetrievalSelector::start_retraining(HeadIndex* h, const kv::KvHead& head, std::span<const int32_t> candidates,
                                         size_t n_visible) {
  const BudgetSplit split = split_budget(options_, n_visible);
  const size_t sinks = static_cast<size_t>(options_.sinks);
  const size_t mid_end = n_visible - 1 - split.window;
  const size_t hd = static_cast<size_t>(shape_.head_dim);
  // Like build_head: trained on every visible key, codes for the middle range.
  auto keys = std::make_shared<std::vector<float>>(n_visible * hd);
  auto slots = std::make_shared<std::vector<int32_t>>(candidates.begin() + static_cast<std::ptrdiff_t>(sinks),
                                                      candidates.begin() + static_cast<std::ptrdiff_t>(mid_end));
  for (size_t i = 0; i < n_visible; ++i) head.read_key(candidates[i], &(*keys)[i * hd]);
  PqParams p{.dim = shape_.head_dim, .m = options_.m, .bits = options_.bits, .kmeans = {}};
  p.kmeans.iterations = options_.iterations;
  p.kmeans.seed = options_.seed;
  auto promise = std::make_shared<std::promise<Retrained>>();
  h->retraining = promise->get_future();
  const size_t lag = std::max<size_t>(
      kMinRetrainLag, static_cast<size_t>(std::ceil((options_.retrain - 1.0) / 2.0 * static_cast<double>(n_visible))));
  h->swap_at = n_visible + lag;
  trainer_->post([p, keys, slots, promise, n_visible, sinks, hd] {
    Retrained r;
    auto trained = ProductQuantizer::train(p, keys->data(), n_visible, nullptr);
    if (trained.ok()) {  // parameters were validated at create(); the snapshot is never empty
      r.pq = std::move(*trained);
      r.codes = PackedCodes(p.m, p.bits);
      r.pq.encode(keys->data() + sinks * hd, slots->size(), &r.codes);
      r.slots = std::move(*slots);
      r.trained_on = n_visible;
    }
    promise->set_value(std::move(r));
  });
}

void RetrievalSelector::install_retrained(HeadIndex* h) {
  const auto start = std::chrono::steady_clock::now();
  Retrained r = h->retraining.get();
  h->stats.retrain_wait_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (r.slots.empty()) return;  // training failed: keep the old index
  h->pq = std::move(r.pq);
  h->codes = std::move(r.codes);
  h->slots = std::move(r.slots);
  h->trained_on = r.trained_on;
  ++h->stats.retrains;
}

}  // namespace kvforge::pq

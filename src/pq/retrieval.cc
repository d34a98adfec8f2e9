#include "kvforge/pq/retrieval.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <future>
#include <sstream>

#include "kvforge/core/background_worker.h"
#include "kvforge/core/spec.h"
#include "kvforge/core/kernels.h"
#include "kvforge/core/thread_pool.h"

namespace kvforge::pq {

const char* method_name(Method method) { return method == Method::kPq ? "pq" : "oracle"; }

// The spec's "name" is the ratio; its keys go through core::Spec like every other
// selectable thing's.
Result<RetrievalOptions> parse_retrieval_spec(const std::string& text) {
  KVF_ASSIGN_OR_RETURN(core::Spec spec, core::Spec::parse(text, "retrieval spec"));
  RetrievalOptions o;
  errno = 0;
  char* end = nullptr;
  o.ratio = std::strtod(spec.name().c_str(), &end);
  if (errno != 0 || *end != '\0') return spec.error("expected RATIO[:key=value,...], e.g. 0.2:m=2,bits=6");
  KVF_ASSIGN_OR_RETURN(const int64_t m, spec.get_int("m", o.m, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(const int64_t bits, spec.get_int("bits", o.bits, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(const int64_t sinks, spec.get_int("sinks", o.sinks, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(const int64_t iters, spec.get_int("iters", o.iterations, 0, 1 << 20));
  KVF_ASSIGN_OR_RETURN(const int64_t seed, spec.get_int("seed", static_cast<int64_t>(o.seed), 0, INT64_MAX));
  KVF_ASSIGN_OR_RETURN(o.retrain, spec.get_double("retrain", o.retrain, 0, 1e6));
  KVF_ASSIGN_OR_RETURN(const int64_t tier, spec.get_int("tier", static_cast<int64_t>(o.tier_blocks), 0, 1 << 30));
  KVF_ASSIGN_OR_RETURN(const int64_t block, spec.get_int("block", o.block_tokens, 1, 1 << 30));
  KVF_ASSIGN_OR_RETURN(const std::string method, spec.get_choice("method", method_name(o.method), {"pq", "oracle"}));
  KVF_RETURN_IF_ERROR(spec.finish());
  o.m = static_cast<int>(m);
  o.bits = static_cast<int>(bits);
  o.sinks = static_cast<int>(sinks);
  o.iterations = static_cast<int>(iters);
  o.seed = static_cast<uint64_t>(seed);
  o.tier_blocks = static_cast<size_t>(tier);
  o.block_tokens = static_cast<int>(block);
  o.method = method == "pq" ? Method::kPq : Method::kOracle;
  return o;
}

Status validate(const RetrievalOptions& o, int head_dim) {
  if (!(o.ratio > 0.0 && o.ratio <= 1.0)) {
    std::ostringstream msg;
    msg << "retrieval: ratio " << o.ratio << " is outside (0, 1]";
    return Status::InvalidArgument(msg.str());
  }
  if (o.sinks < 0) return Status::InvalidArgument("retrieval: sinks must be >= 0");
  if (o.retrain != 0 && o.retrain <= 1.0) {
    return Status::InvalidArgument("retrieval: retrain must be 0 (never) or a growth factor > 1");
  }
  if (o.method == Method::kOracle) return Status::OK();
  PqParams p{.dim = head_dim, .m = o.m, .bits = o.bits, .kmeans = {}};
  p.kmeans.iterations = o.iterations;
  return validate(p);
}

BudgetSplit split_budget(const RetrievalOptions& o, size_t n) {
  BudgetSplit s;
  const size_t budget = static_cast<size_t>(std::ceil(o.ratio * static_cast<double>(n)));
  s.window = budget / 2;
  s.top_k = budget - s.window;
  s.all = n <= static_cast<size_t>(o.sinks) + budget + 1;
  return s;
}

void combine_group(float* scores, int group, size_t n, float* combined) {
  if (group == 1) {
    std::copy(scores, scores + n, combined);
    return;
  }
  std::fill(combined, combined + n, 0.0f);
  for (int g = 0; g < group; ++g) {
    float* row = scores + static_cast<size_t>(g) * n;
    core::softmax_f32(row, n);
    core::axpy_f32(1.0f, row, combined, n);
  }
}

// A head's quantizer re-trained in the background on a snapshot of its keys,
// with the codes of the snapshot's middle range.
struct Retrained {
  ProductQuantizer pq;
  PackedCodes codes;
  std::vector<int32_t> slots;
  size_t trained_on = 0;
};

struct RetrievalSelector::HeadIndex {
  std::mutex mu;
  std::future<Retrained> retraining;  // valid while a re-training runs
  size_t swap_at = 0;                 // the visible-token count at which it replaces the index
  bool built = false;
  ProductQuantizer pq;
  PackedCodes codes;
  std::vector<int32_t> slots;  // slots[i]: the slot code i describes (candidate sinks + i)
  size_t trained_on = 0;       // keys the quantizer was trained on
  RetrievalStats stats;
  std::vector<float> scores, combined, table, keys;
  std::vector<float> key_row;  // one key as fp32 (exact scores over an F16 cache)
  std::vector<int32_t> top, exact, positions;
  int64_t tier_errors = 0;
  int32_t tier_stored = -1;  // the last position written to the tier
};

RetrievalSelector::RetrievalSelector(const RetrievalOptions& options, kv::KvShape shape)
    : options_(options), shape_(shape) {
  heads_.resize(static_cast<size_t>(shape.n_layers) * shape.n_kv_heads);
  for (auto& h : heads_) h = std::make_unique<HeadIndex>();
}

RetrievalSelector::~RetrievalSelector() = default;

Result<std::unique_ptr<RetrievalSelector>> RetrievalSelector::create(const RetrievalOptions& options,
                                                                     kv::KvShape shape) {
  KVF_RETURN_IF_ERROR(validate(options, shape.head_dim));
  std::unique_ptr<RetrievalSelector> s(new RetrievalSelector(options, shape));
  if (options.retrain > 0 && options.method == Method::kPq) s->trainer_ = std::make_unique<core::BackgroundWorker>();
  if (options.tier_blocks > 0 && options.method == Method::kPq) {
    KVF_ASSIGN_OR_RETURN(s->tier_, KvTier::create({.block_tokens = options.block_tokens,
                                                   .cache_blocks = options.tier_blocks, .directory = {}},
                                                  shape));
  }
  return s;
}

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

Status RetrievalSelector::build(const kv::KvCache& cache, core::ThreadPool* pool) {
  if (!(cache.shape().n_layers == shape_.n_layers && cache.shape().n_kv_heads == shape_.n_kv_heads &&
        cache.shape().head_dim == shape_.head_dim)) {
    return Status::InvalidArgument("retrieval: cache shape differs from the selector's");
  }
  auto run = [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      const int layer = static_cast<int>(i) / shape_.n_kv_heads, kvh = static_cast<int>(i) % shape_.n_kv_heads;
      const kv::KvHead& head = cache.head(layer, kvh);
      std::lock_guard<std::mutex> lock(heads_[i]->mu);
      build_head(heads_[i].get(), static_cast<int>(i), head, head.live_slots(), head.size() + 1);
    }
  };
  if (pool == nullptr) {
    run(0, heads_.size());
  } else {
    pool->parallel_for(heads_.size(), run);
  }
  return Status::OK();
}

void RetrievalSelector::select(int layer, int kv_head, int32_t query_position, const kv::KvHead& head,
                               std::span<const float> queries, std::span<const int32_t> candidates,
                               std::vector<int32_t>* selected) {
  thread_local kv::GatheredKv dropped;
  select_and_gather(layer, kv_head, query_position, head, queries, candidates, selected, &dropped);
}

void RetrievalSelector::select_and_gather(int layer, int kv_head, int32_t /*query_position*/, const kv::KvHead& head,
                                          std::span<const float> queries, std::span<const int32_t> candidates,
                                          std::vector<int32_t>* selected, kv::GatheredKv* gathered) {
  gathered->clear();
  const size_t n = candidates.size();
  const BudgetSplit split = split_budget(options_, n);
  if (split.all) {
    selected->assign(candidates.begin(), candidates.end());
    return;
  }
  const size_t sinks = static_cast<size_t>(options_.sinks);
  const size_t mid_end = n - 1 - split.window, n_mid = mid_end - sinks;
  const size_t hd = static_cast<size_t>(shape_.head_dim);
  const int group = static_cast<int>(queries.size() / hd);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int head_index = layer * shape_.n_kv_heads + kv_head;
  HeadIndex& h = *heads_[static_cast<size_t>(head_index)];
  std::lock_guard<std::mutex> lock(h.mu);
  h.scores.resize(static_cast<size_t>(group) * n_mid);
  h.combined.resize(n_mid);
  h.key_row.resize(hd);

  auto exact_top = [&](std::vector<int32_t>* out) {
    for (int g = 0; g < group; ++g) {
      const float* q = queries.data() + static_cast<size_t>(g) * hd;
      float* row = h.scores.data() + static_cast<size_t>(g) * n_mid;
      for (size_t i = 0; i < n_mid; ++i) {
        head.read_key(candidates[sinks + i], h.key_row.data());
        row[i] = core::dot_f32(q, h.key_row.data(), hd) * scale;
      }
    }
    combine_group(h.scores.data(), group, n_mid, h.combined.data());
    select_top_k(h.combined, split.top_k, out);
  };

  if (options_.method == Method::kOracle) {
    exact_top(&h.top);
  } else {
    // Re-index when the head was never built or its slots changed under it.
    const size_t used = std::min(h.slots.size(), n_mid);
    const bool grown = options_.retrain > 0 && static_cast<double>(n) >=
                                                  options_.retrain * static_cast<double>(h.trained_on);
    if (!h.built || (used > 0 && candidates[sinks + used - 1] != h.slots[used - 1])) {
      h.retraining = {};  // its snapshot no longer describes the head
      build_head(&h, head_index, head, candidates, n);
    } else if (h.retraining.valid() && n >= h.swap_at) {
      install_retrained(&h);
    } else if (grown && !h.retraining.valid()) {
      // Small heads re-train at once (a few ms of k-means): the background
      // path's lag would leave their codebooks stale for nothing.
      const double work = static_cast<double>(n) * static_cast<double>(hd) * static_cast<double>(1 << options_.bits);
      if (work < kSyncRetrainWork) {
        build_head(&h, head_index, head, candidates, n);
        ++h.stats.retrains;
      } else {
        start_retraining(&h, head, candidates, n);
      }
    }
    // Tokens that left the local window: codes by nearest centroid.
    while (h.slots.size() < n_mid) add_code(&h, head_index, head, candidates[sinks + h.slots.size()]);
    const int ksub = h.pq.ksub();
    const size_t table_floats = static_cast<size_t>(h.pq.m()) * static_cast<size_t>(ksub);
    h.table.resize(static_cast<size_t>(group) * table_floats);
    for (int g = 0; g < group; ++g) {
      h.pq.ip_table(queries.data() + static_cast<size_t>(g) * hd, scale, h.table.data() + static_cast<size_t>(g) * table_floats);
    }
    scan_ip(h.codes, 0, n_mid, h.table.data(), group, ksub, h.scores.data());
    combine_group(h.scores.data(), group, n_mid, h.combined.data());
    select_top_k(h.combined, split.top_k, &h.top);
    if (tier_ != nullptr) {
      // Attention reads the top-k's K/V from the slower tier. Rows in h.top's
      // order, which is the order *selected lists them in after the sinks (and
      // the order attention sums in without a tier, so the output is the same).
      h.positions.resize(h.top.size());
      for (size_t i = 0; i < h.top.size(); ++i) h.positions[i] = head.position(candidates[sinks + static_cast<size_t>(h.top[i])]);
      gathered->resize(sinks, h.top.size(), shape_.head_dim);
      tier_->fetch(layer, kv_head, h.positions, gathered->keys.data(), gathered->values.data());
    }
    if (options_.track_recall) {
      exact_top(&h.exact);
      std::sort(h.exact.begin(), h.exact.end());
      size_t hit = 0;
      for (int32_t i : h.top) hit += std::binary_search(h.exact.begin(), h.exact.end(), i) ? 1 : 0;
      h.stats.recall_sum += static_cast<double>(hit) / static_cast<double>(h.top.size());
      ++h.stats.recall_count;
    }
  }
  ++h.stats.selections;
  selected->clear();
  selected->reserve(sinks + h.top.size() + split.window + 1);
  selected->insert(selected->end(), candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(sinks));
  for (int32_t i : h.top) selected->push_back(candidates[sinks + static_cast<size_t>(i)]);
  selected->insert(selected->end(), candidates.begin() + static_cast<std::ptrdiff_t>(mid_end), candidates.end());
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

RetrievalStats RetrievalSelector::stats() const {
  RetrievalStats s;
  for (const auto& h : heads_) {
    std::lock_guard<std::mutex> lock(h->mu);
    s.selections += h->stats.selections;
    s.recall_sum += h->stats.recall_sum;
    s.recall_count += h->stats.recall_count;
    s.retrains += h->stats.retrains;
    s.retrain_wait_ms += h->stats.retrain_wait_ms;
    s.tier_errors += h->tier_errors;
  }
  if (tier_ != nullptr) s.tier = tier_->stats();
  return s;
}

size_t RetrievalSelector::index_bytes() const {
  size_t bytes = 0;
  for (const auto& h : heads_) {
    std::lock_guard<std::mutex> lock(h->mu);
    if (h->built) bytes += h->codes.bytes() + h->pq.centroids().size() * sizeof(float) + h->slots.size() * sizeof(int32_t);
  }
  return bytes;
}

void RetrievalSelector::reset() {
  for (auto& h : heads_) {
    std::lock_guard<std::mutex> lock(h->mu);
    h->built = false;
    h->retraining = {};
    h->codes.clear();
    h->slots.clear();
    h->stats = {};
    h->tier_errors = 0;
    h->tier_stored = -1;
  }
}

}  // namespace kvforge::pq

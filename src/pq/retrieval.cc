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
#include "pq/head_index.h"

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
void RetrievalSelector::HeadIndex::exact_top(const kv::KvHead& head, const MiddleRange& r, size_t top_k,
                                             std::vector<int32_t>* out) {
  for (int g = 0; g < r.group; ++g) {
    const float* q = r.queries.data() + static_cast<size_t>(g) * r.head_dim;
    float* row = scores.data() + static_cast<size_t>(g) * r.n_mid;
    for (size_t i = 0; i < r.n_mid; ++i) {
      head.read_key(r.candidates[r.sinks + i], key_row.data());
      row[i] = core::dot_f32(q, key_row.data(), r.head_dim) * r.scale;
    }
  }
  combine_group(scores.data(), r.group, r.n_mid, combined.data());
  select_top_k(combined, top_k, out);
}

void RetrievalSelector::HeadIndex::pq_top(const MiddleRange& r, size_t top_k) {
  const int ksub = pq.ksub();
  const size_t table_floats = static_cast<size_t>(pq.m()) * static_cast<size_t>(ksub);
  table.resize(static_cast<size_t>(r.group) * table_floats);
  for (int g = 0; g < r.group; ++g) {
    pq.ip_table(r.queries.data() + static_cast<size_t>(g) * r.head_dim, r.scale,
                table.data() + static_cast<size_t>(g) * table_floats);
  }
  scan_ip(codes, 0, r.n_mid, table.data(), r.group, ksub, scores.data());
  combine_group(scores.data(), r.group, r.n_mid, combined.data());
  select_top_k(combined, top_k, &top);
}

void RetrievalSelector::HeadIndex::track_recall(const kv::KvHead& head, const MiddleRange& r, size_t top_k) {
  exact_top(head, r, top_k, &exact);
  std::sort(exact.begin(), exact.end());
  size_t hit = 0;
  for (int32_t i : top) hit += std::binary_search(exact.begin(), exact.end(), i) ? 1 : 0;
  stats.recall_sum += static_cast<double>(hit) / static_cast<double>(top.size());
  ++stats.recall_count;
}

// Re-indexes when the head was never built or its slots changed under it,
// installs or starts a re-training as the context grows, and codes the tokens
// that left the local window by nearest centroid.
void RetrievalSelector::refresh_index(HeadIndex* h, int head_index, const kv::KvHead& head,
                                      std::span<const int32_t> candidates, size_t n_mid) {
  const size_t n = candidates.size(), sinks = static_cast<size_t>(options_.sinks);
  const size_t used = std::min(h->slots.size(), n_mid);
  const bool grown =
      options_.retrain > 0 && static_cast<double>(n) >= options_.retrain * static_cast<double>(h->trained_on);
  if (!h->built || (used > 0 && candidates[sinks + used - 1] != h->slots[used - 1])) {
    h->retraining = {};  // its snapshot no longer describes the head
    build_head(h, head_index, head, candidates, n);
  } else if (h->retraining.valid() && n >= h->swap_at) {
    install_retrained(h);
  } else if (grown && !h->retraining.valid()) {
    // Small heads re-train at once (a few ms of k-means): the background
    // path's lag would leave their codebooks stale for nothing.
    const double work = static_cast<double>(n) * static_cast<double>(shape_.head_dim) *
                        static_cast<double>(1 << options_.bits);
    if (work < kSyncRetrainWork) {
      build_head(h, head_index, head, candidates, n);
      ++h->stats.retrains;
    } else {
      start_retraining(h, head, candidates, n);
    }
  }
  while (h->slots.size() < n_mid) add_code(h, head_index, head, candidates[sinks + h->slots.size()]);
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
  const MiddleRange r{queries, candidates, sinks, n_mid, hd, static_cast<int>(queries.size() / hd),
                      1.0f / std::sqrt(static_cast<float>(hd))};
  const int head_index = layer * shape_.n_kv_heads + kv_head;
  HeadIndex& h = *heads_[static_cast<size_t>(head_index)];
  std::lock_guard<std::mutex> lock(h.mu);
  h.scores.resize(static_cast<size_t>(r.group) * n_mid);
  h.combined.resize(n_mid);
  h.key_row.resize(hd);

  if (options_.method == Method::kOracle) {
    h.exact_top(head, r, split.top_k, &h.top);
  } else {
    refresh_index(&h, head_index, head, candidates, n_mid);
    h.pq_top(r, split.top_k);
    if (tier_ != nullptr) {
      // Attention reads the top-k's K/V from the slower tier. Rows in h.top's
      // order, which is the order *selected lists them in after the sinks (and
      // the order attention sums in without a tier, so the output is the same).
      h.positions.resize(h.top.size());
      for (size_t i = 0; i < h.top.size(); ++i) h.positions[i] = head.position(candidates[sinks + static_cast<size_t>(h.top[i])]);
      gathered->resize(sinks, h.top.size(), shape_.head_dim);
      tier_->fetch(layer, kv_head, h.positions, gathered->keys.data(), gathered->values.data());
    }
    if (options_.track_recall) h.track_recall(head, r, split.top_k);
  }
  ++h.stats.selections;
  selected->clear();
  selected->reserve(sinks + h.top.size() + split.window + 1);
  selected->insert(selected->end(), candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(sinks));
  for (int32_t i : h.top) selected->push_back(candidates[sinks + static_cast<size_t>(i)]);
  selected->insert(selected->end(), candidates.begin() + static_cast<std::ptrdiff_t>(mid_end), candidates.end());
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

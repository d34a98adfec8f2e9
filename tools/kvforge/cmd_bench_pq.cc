// kvforge bench pq: PQCache's parts timed.
//  - scan rows: one query over N keys, lookup table + scan + top-k (k = N/10),
//    against FAISS IndexPQ (and IndexPQFastScan at 4 bits) with the same keys,
//    m, bits, k and one thread;
//  - attention rows: a decode step's attention (one query token, one layer)
//    with retrieval against full attention, over N cached tokens;
//  - recall row: recall of PQ's top-k against the exact top-k on the keys a
//    synthetic model (head_dim 128) computes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <sstream>

#include "common.h"
#include "kvforge/core/thread_pool.h"
#include "kvforge/kv/attention.h"
#include "kvforge/model/synthetic.h"
#include "kvforge/pq/product_quantizer.h"
#include "kvforge/pq/retrieval.h"

#ifdef KVFORGE_HAVE_FAISS
#include <faiss/IndexPQ.h>
#include <faiss/IndexPQFastScan.h>
#include <omp.h>
#endif

namespace kvforge::cli {

namespace {

using Clock = std::chrono::steady_clock;

// Median wall time in ms of `reps` calls of fn.
template <typename Fn>
double median_ms(int reps, Fn&& fn) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Keys with uneven channel scales (as real keys have a few large channels).
std::vector<float> make_keys(size_t n, int dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> scale(static_cast<size_t>(dim));
  for (auto& s : scale) s = 0.5f + 2.0f * std::fabs(nd(rng));
  std::vector<float> x(n * static_cast<size_t>(dim));
  for (size_t i = 0; i < x.size(); ++i) x[i] = nd(rng) * scale[i % static_cast<size_t>(dim)];
  return x;
}

std::vector<int> parse_ints(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(std::stoi(item));
  }
  return out;
}

Status scan_rows(int n_keys, int dim, const std::vector<std::pair<int, int>>& configs, int reps, eval::Table* table) {
  const size_t n = static_cast<size_t>(n_keys);
  const size_t k = std::max<size_t>(1, n / 10);
  const auto keys = make_keys(n, dim, 1);
  const auto query = make_keys(1, dim, 2);
  for (const auto& [m, bits] : configs) {
    pq::PqParams params{.dim = dim, .m = m, .bits = bits, .kmeans = {.iterations = 8, .seed = 1,
                                                                      .max_points_per_centroid = 64}};
    KVF_ASSIGN_OR_RETURN(pq::ProductQuantizer quantizer, pq::ProductQuantizer::train(params, keys.data(), n, nullptr));
    pq::PackedCodes codes(m, bits);
    quantizer.encode(keys.data(), n, &codes);
    std::vector<float> lut(static_cast<size_t>(m * quantizer.ksub())), scores(n);
    std::vector<int32_t> top;
    const double ours = median_ms(reps, [&] {
      quantizer.ip_table(query.data(), 1.0f, lut.data());
      pq::scan_ip(codes, 0, n, lut.data(), quantizer.ksub(), scores.data());
      pq::select_top_k(scores, k, &top);
    });
    nlohmann::json row = {{"case", "scan"}, {"n_keys", n_keys}, {"dim", dim}, {"m", m}, {"bits", bits},
                          {"k", static_cast<int64_t>(k)}, {"kvforge_ms", ours},
                          {"code_bytes", static_cast<int64_t>(codes.bytes())}};
#ifdef KVFORGE_HAVE_FAISS
    omp_set_num_threads(1);
    faiss::IndexPQ index(dim, static_cast<size_t>(m), static_cast<size_t>(bits), faiss::METRIC_INNER_PRODUCT);
    index.pq.cp.niter = 8;
    index.train(static_cast<faiss::Index::idx_t>(n), keys.data());
    index.add(static_cast<faiss::Index::idx_t>(n), keys.data());
    std::vector<float> dist(k);
    std::vector<faiss::Index::idx_t> ids(k);
    const auto kk = static_cast<faiss::Index::idx_t>(k);
    const double theirs = median_ms(reps, [&] { index.search(1, query.data(), kk, dist.data(), ids.data()); });
    row["faiss_ms"] = theirs;
    row["speedup_vs_faiss"] = theirs / ours;
    if (bits == 4) {
      faiss::IndexPQFastScan fast(index);
      const double fs = median_ms(reps, [&] { fast.search(1, query.data(), kk, dist.data(), ids.data()); });
      row["faiss_fastscan_ms"] = fs;
      row["speedup_vs_fastscan"] = fs / ours;
    }
#endif
    table->add(std::move(row));
  }
  return Status::OK();
}

// One layer's decode-step attention over n cached tokens, with and without retrieval.
Status attention_row(const model::ModelConfig& cfg, int n_tokens, const pq::RetrievalOptions& ro, int steps,
                     kv::KvType kv_type, core::ThreadPool* pool, eval::Table* table) {
  const int hd = cfg.dim / cfg.n_heads;
  kv::KvCache cache(kv::KvShape{1, cfg.n_kv_heads, hd}, kv_type);
  cache.reserve(static_cast<size_t>(n_tokens) + 1);
  for (int h = 0; h < cfg.n_kv_heads; ++h) {
    const auto k = make_keys(static_cast<size_t>(n_tokens) + 1, hd, 10 + static_cast<uint64_t>(h));
    const auto v = make_keys(static_cast<size_t>(n_tokens) + 1, hd, 100 + static_cast<uint64_t>(h));
    for (int t = 0; t <= n_tokens; ++t) {
      cache.head(0, h).append(t, &k[static_cast<size_t>(t) * hd], &v[static_cast<size_t>(t) * hd]);
    }
  }
  cache.set_next_position(n_tokens + 1);
  KVF_ASSIGN_OR_RETURN(auto selector, pq::RetrievalSelector::create(ro, cache.shape()));
  KVF_RETURN_IF_ERROR(selector->build(cache, pool));
  const auto q = make_keys(static_cast<size_t>(steps), cfg.n_heads * hd, 7);
  std::vector<float> out(static_cast<size_t>(cfg.n_heads * hd));
  const int32_t pos = n_tokens;
  auto time_steps = [&](kv::SlotSelector* sel) {
    kv::KvView view{&cache, sel, nullptr};
    const auto t0 = Clock::now();
    for (int s = 0; s < steps; ++s) {
      kv::AttentionBatch b{0, cfg.n_heads, 1, &pos, &q[static_cast<size_t>(s) * cfg.n_heads * hd], out.data()};
      kv::attend(view, b, pool);
    }
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / steps;
  };
  (void)time_steps(selector.get());  // warm up (first codes for the window boundary)
  const double pq_ms = time_steps(selector.get());
  const double full_ms = time_steps(nullptr);
  nlohmann::json row = {{"case", "attention"}, {"n_keys", n_tokens}, {"dim", hd}, {"m", ro.m}, {"bits", ro.bits},
                        {"k", static_cast<int64_t>(pq::split_budget(ro, static_cast<size_t>(n_tokens) + 1).top_k)},
                        {"ratio", ro.ratio}, {"full_attention_ms", full_ms}, {"pq_attention_ms", pq_ms},
                        {"attention_speedup", full_ms / pq_ms}, {"heads", cfg.n_heads}, {"kv_heads", cfg.n_kv_heads},
                        {"kv_type", std::string(kv::kv_type_name(kv_type))}};
  const pq::TierStats tier = selector->stats().tier;
  if (tier.hits + tier.misses > 0) {
    row["tier_blocks"] = static_cast<int64_t>(ro.tier_blocks);
    row["block_tokens"] = ro.block_tokens;
    row["block_hit_rate"] = tier.hit_rate();
  }
  table->add(std::move(row));
  return Status::OK();
}

// Recall of the retrieval on the keys a random-weight model computes.
Status recall_row(const std::string& spec_text, int context, const pq::RetrievalOptions& ro, int threads,
                  kv::KvType kv_type, eval::Table* table) {
  KVF_ASSIGN_OR_RETURN(model::SyntheticSpec spec, model::parse_synthetic_spec(spec_text));
  spec.context_length = std::max(spec.context_length, context + 64);
  KVF_ASSIGN_OR_RETURN(auto model, model::make_synthetic_model(spec, threads));
  model::Session session(model, {.n_threads = threads, .kv_type = kv_type});
  std::mt19937 rng(5);
  std::vector<int32_t> tokens(static_cast<size_t>(context) + 16);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(spec.vocab_size));
  KVF_RETURN_IF_ERROR(session.forward(std::span<const int32_t>(tokens.data(), static_cast<size_t>(context)),
                                      model::LogitsMode::kNone, nullptr));
  pq::RetrievalOptions o = ro;
  o.track_recall = true;
  KVF_ASSIGN_OR_RETURN(auto selector, pq::RetrievalSelector::create(o, session.cache().shape()));
  KVF_RETURN_IF_ERROR(selector->build(session.cache(), session.pool()));
  session.set_selector(selector.get());
  std::vector<float> logits;
  for (size_t i = static_cast<size_t>(context); i < tokens.size(); ++i) {
    KVF_RETURN_IF_ERROR(session.decode(tokens[i], &logits));
  }
  session.set_selector(nullptr);
  const int hd = spec.dim / spec.n_heads;
  table->add({{"case", "recall"}, {"n_keys", context}, {"dim", hd}, {"m", ro.m}, {"bits", ro.bits},
              {"k", static_cast<int64_t>(pq::split_budget(ro, static_cast<size_t>(context)).top_k)},
              {"ratio", ro.ratio}, {"recall_at_k", selector->stats().recall()}, {"model", "synthetic:" + spec_text},
              {"kv_type", std::string(kv::kv_type_name(kv_type))}});
  return Status::OK();
}

}  // namespace

Runner register_bench_pq(CLI::App* bench_cmd) {
  struct Args {
    int threads = 1;
    int dim = 128;
    std::string n_keys = "32768";
    std::string configs = "2x6,2x4,2x8,8x8,16x4,128x4";
    std::string attention_tokens = "8192,16384,32768";
    std::string synthetic = "dim=4096,hidden=14336,layers=1,heads=32,kv_heads=8";
    std::string recall_synthetic = "dim=2048,hidden=5632,layers=2,heads=16,kv_heads=4";
    int recall_context = 1024;
    // The paper's default, and 4 bits per dimension: the fast scan at the code
    // size where random (near-isotropic) keys keep their top-k ranking.
    std::string retrieval = "0.2:m=2,bits=6;0.2:m=128,bits=4";
    int reps = 9;
    int steps = 10;
    kv::KvType kv_type = kv::KvType::kF16;
    std::string json;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = bench_cmd->add_subcommand("pq", "PQ scan + top-k vs FAISS, retrieval attention vs full attention");
  cmd->add_option("--threads", a->threads, "Threads (kvforge and FAISS alike)")->check(CLI::Range(1, 256));
  cmd->add_option("--dim", a->dim, "Key dimension of the scan rows");
  cmd->add_option("--n-keys", a->n_keys, "Comma-separated key counts of the scan rows");
  cmd->add_option("--configs", a->configs, "Comma-separated MxBITS of the scan rows, e.g. 2x6,2x4");
  cmd->add_option("--attention-tokens", a->attention_tokens, "Cached tokens of the attention rows ('' for none)");
  cmd->add_option("--synthetic", a->synthetic, "Model shape of the attention rows (synthetic spec)");
  cmd->add_option("--recall-synthetic", a->recall_synthetic, "Synthetic model of the recall row ('' for none)");
  cmd->add_option("--recall-context", a->recall_context, "Tokens prefilled before the recall row's decode steps");
  cmd->add_option("--pq", a->retrieval, "Retrieval specs of the attention and recall rows, ';'-separated");
  cmd->add_option("--reps", a->reps, "Repetitions per scan timing (median)")->check(CLI::Range(1, 1000));
  cmd->add_option("--steps", a->steps, "Decode steps per attention timing (mean)")->check(CLI::Range(1, 1000));
  add_kv_type_flag(cmd, &a->kv_type);
  add_json_flag(cmd, &a->json);

  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    eval::Table table({"case", "n_keys", "dim", "m", "bits", "k", "kvforge_ms", "faiss_ms", "faiss_fastscan_ms",
                       "speedup_vs_faiss", "full_attention_ms", "pq_attention_ms", "attention_speedup",
                       "recall_at_k", "block_hit_rate"});
    std::vector<std::pair<int, int>> configs;
    std::stringstream ss(a->configs);
    for (std::string item; std::getline(ss, item, ',');) {
      const size_t x = item.find('x');
      if (x == std::string::npos) return fail(Status::InvalidArgument("--configs: '" + item + "' is not MxBITS"));
      configs.emplace_back(std::stoi(item.substr(0, x)), std::stoi(item.substr(x + 1)));
    }
    for (int n : parse_ints(a->n_keys)) {
      Status s = scan_rows(n, a->dim, configs, a->reps, &table);
      if (!s.ok()) return fail(s.with_context("scan rows"));
    }
    std::vector<pq::RetrievalOptions> specs;
    std::stringstream specs_text(a->retrieval);
    for (std::string item; std::getline(specs_text, item, ';');) {
      auto ro = pq::parse_retrieval_spec(item);
      if (!ro.ok()) return fail(ro.status().with_context("--pq"));
      specs.push_back(*ro);
    }
    core::ThreadPool pool(a->threads);
    const auto tokens = parse_ints(a->attention_tokens);
    for (const pq::RetrievalOptions& ro : specs) {
      if (!tokens.empty()) {
        auto spec = model::parse_synthetic_spec(a->synthetic);
        if (!spec.ok()) return fail(spec.status().with_context("--synthetic"));
        model::ModelConfig cfg;
        cfg.dim = spec->dim;
        cfg.n_heads = spec->n_heads;
        cfg.n_kv_heads = spec->n_kv_heads;
        for (int n : tokens) {
          Status s = attention_row(cfg, n, ro, a->steps, a->kv_type, &pool, &table);
          if (!s.ok()) return fail(s.with_context("attention rows"));
        }
      }
      if (!a->recall_synthetic.empty()) {
        Status s = recall_row(a->recall_synthetic, a->recall_context, ro, a->threads, a->kv_type, &table);
        if (!s.ok()) return fail(s.with_context("recall row"));
      }
    }
    return emit(table, a->json);
  };
}

}  // namespace kvforge::cli

// kvf_load_server: a bounded load test of `kvforge serve` (scripts/load-test-server).
// Puts a set of chunks (random KV at a few levels), then runs --clients threads
// for --seconds, each fetching random (chunk, level) frames and some lookups,
// checking every byte against what it put. Prints requests, errors, mismatches,
// throughput and p50/p99/max latency; exit code 1 on any error or mismatch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>

#include "kvforge/core/percentile.h"
#include "kvforge/server/client.h"
#include "kvforge/store/chunk_encoder.h"

using namespace kvforge;

namespace {

store::StoredChunk make_chunk(uint32_t index, size_t n_tokens, const std::vector<std::string>& levels) {
  codec::KvChunk kv;
  kv.shape = {4, 4, 64};  // layers, kv heads, head_dim
  kv.n_tokens = n_tokens;
  kv.allocate();
  const size_t n = kv.elements();
  std::mt19937 rng(1000 + index);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) {
    kv.k[i] = nd(rng);
    kv.v[i] = nd(rng) * 0.5f;
  }
  std::vector<int32_t> tokens(n_tokens);
  std::iota(tokens.begin(), tokens.end(), static_cast<int32_t>(index * 100000));
  constexpr uint64_t kFingerprint = 0x10adu;
  const store::ChunkKey key = store::chunk_key(kFingerprint, nullptr, tokens);
  auto enc = store::ChunkEncoder::make(levels, kFingerprint);
  KVF_CHECK(enc.ok());
  auto chunk = enc->encode(key, index, 0, tokens, kv.view());
  KVF_CHECK(chunk.ok());
  return std::move(*chunk);
}

struct LoadFlags {
  std::string url, token;
  int clients = 64, chunks = 16;
  double seconds = 60;
  size_t tokens = 256;
};

void add_load_options(CLI::App& app, LoadFlags* f) {
  app.add_option("--url", f->url, "Server URL, http://host:port")->required();
  app.add_option("--token", f->token, "Bearer token");
  app.add_option("--clients", f->clients, "Concurrent client threads")->capture_default_str();
  app.add_option("--seconds", f->seconds, "Duration of the load")->capture_default_str();
  app.add_option("--chunks", f->chunks, "Chunks put before the load")->capture_default_str();
  app.add_option("--tokens", f->tokens, "Tokens per chunk")->capture_default_str();
}

// What the clients fetch: the chunks put, and their keys in put order.
struct Corpus {
  std::vector<store::StoredChunk> stored;
  std::vector<store::ChunkKey> keys;
};

// Counts shared by the client threads.
struct Tally {
  std::atomic<uint64_t> requests{0}, errors{0}, mismatches{0}, bytes{0};
  std::vector<std::vector<double>> latencies;  // seconds, one list per client
  std::mutex err_mu;
  std::string first_error;

  void note(const std::string& what) {
    std::lock_guard lock(err_mu);
    if (first_error.empty()) first_error = what;
  }
};

// One client object per thread: its own connection, as separate machines would have.
Status connect_all(const LoadFlags& f, std::vector<std::unique_ptr<server::StoreClient>>* conns) {
  for (int i = 0; i < f.clients; ++i) {
    KVF_ASSIGN_OR_RETURN(auto c, server::StoreClient::make(
                                     f.url, {.token = f.token, .connect_timeout_ms = 3000, .timeout_ms = 30000}));
    conns->push_back(std::move(c));
  }
  return Status::OK();
}

Status put_chunks(const LoadFlags& f, server::StoreClient& conn, Corpus* corpus) {
  const std::vector<std::string> levels = {"fp16", "q8", "cachegen:level=1", "cachegen:level=3"};
  for (int i = 0; i < f.chunks; ++i) {
    corpus->stored.push_back(make_chunk(static_cast<uint32_t>(i), f.tokens, levels));
    corpus->keys.push_back(corpus->stored.back().key);
    KVF_RETURN_IF_ERROR(conn.put(corpus->stored.back()));
  }
  return Status::OK();
}

// steady_clock's now() plus a duration in (fractional) seconds.
using Deadline = std::chrono::time_point<std::chrono::steady_clock, std::chrono::duration<double>>;

// Client t's loop until `end`: every eighth request a lookup of a key prefix,
// the others one (chunk, level) frame, each checked against what was put.
void run_client(int t, server::StoreClient& c, const Corpus& corpus, Deadline end,
                Tally* tally) {
  std::mt19937 rng(static_cast<uint32_t>(t) * 7919u + 1);
  auto& lat = tally->latencies[static_cast<size_t>(t)];
  for (uint64_t i = 0; std::chrono::steady_clock::now() < end; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (i % 8 == 7) {
      const size_t n = 1 + rng() % corpus.keys.size();
      auto r = c.lookup(std::span(corpus.keys).first(n));
      if (!r.ok()) {
        ++tally->errors;
        tally->note(r.status().to_string());
      } else if (*r != n) {
        ++tally->mismatches;
      }
    } else {
      const auto& chunk = corpus.stored[rng() % corpus.stored.size()];
      const auto& level = chunk.levels[rng() % chunk.levels.size()];
      auto r = c.fetch_level(chunk.key, level.level);
      if (!r.ok()) {
        ++tally->errors;
        tally->note(r.status().to_string());
      } else {
        tally->bytes += r->bytes.size();
        if (r->bytes != level.frame || r->tokens != chunk.tokens.size()) ++tally->mismatches;
      }
    }
    lat.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    ++tally->requests;
  }
}

// Prints the counts and latency percentiles; exit code 1 on any error or mismatch.
int report(const LoadFlags& f, Tally& tally) {
  std::vector<double> all;
  for (auto& l : tally.latencies) all.insert(all.end(), l.begin(), l.end());
  const double p50 = core::percentile(all, 0.50) * 1e3, p99 = core::percentile(all, 0.99) * 1e3;
  const double max = all.empty() ? 0 : *std::max_element(all.begin(), all.end()) * 1e3;
  std::cout << "clients " << f.clients << "\nseconds " << f.seconds << "\nrequests " << tally.requests.load()
            << "\nerrors " << tally.errors.load() << "\nmismatches " << tally.mismatches.load() << "\nrequests_per_s "
            << static_cast<double>(tally.requests.load()) / f.seconds << "\nmb_per_s "
            << static_cast<double>(tally.bytes.load()) / f.seconds / 1e6 << "\np50_ms " << p50 << "\np99_ms " << p99
            << "\nmax_ms " << max << "\n";
  if (!tally.first_error.empty()) std::cerr << "first error: " << tally.first_error << "\n";
  return tally.errors.load() == 0 && tally.mismatches.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvf_load_server: concurrent clients against kvforge serve, every byte checked"};
  LoadFlags f;
  add_load_options(app, &f);
  CLI11_PARSE(app, argc, argv);

  std::vector<std::unique_ptr<server::StoreClient>> conns;
  if (Status s = connect_all(f, &conns); !s.ok()) {
    std::cerr << "kvf_load_server: " << s.to_string() << "\n";
    return 2;
  }
  Corpus corpus;
  if (Status s = put_chunks(f, *conns[0], &corpus); !s.ok()) {
    std::cerr << "kvf_load_server: put: " << s.to_string() << "\n";
    return 2;
  }
  std::cerr << "kvf_load_server: put " << f.chunks << " chunks; " << f.clients << " clients for " << f.seconds
            << " s\n";

  Tally tally;
  tally.latencies.resize(static_cast<size_t>(f.clients));
  const Deadline end = std::chrono::steady_clock::now() + std::chrono::duration<double>(f.seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < f.clients; ++t) {
    threads.emplace_back([&, t] { run_client(t, *conns[static_cast<size_t>(t)], corpus, end, &tally); });
  }
  for (auto& th : threads) th.join();
  return report(f, tally);
}

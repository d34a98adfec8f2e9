// kvf_load_server: a bounded load test of `kvforge serve` (scripts/load-test-server).
// Puts a set of chunks (random KV at a few levels), then runs --clients threads
// for --seconds, each fetching random (chunk, level) frames and some lookups,
// checking every byte against what it put. Prints requests, errors, mismatches,
// throughput and p50/p99/max latency; exit code 1 on any error or mismatch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <numeric>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>

#include "kvforge/server/client.h"
#include "kvforge/store/chunk_encoder.h"

using namespace kvforge;

namespace {

store::StoredChunk make_chunk(uint32_t index, size_t n_tokens, const std::vector<std::string>& levels) {
  codec::KvChunk kv;
  kv.shape = {4, 4, 64};  // layers, kv heads, head_dim
  kv.n_tokens = n_tokens;
  const size_t n = static_cast<size_t>(kv.shape.n_layers) * kv.shape.n_kv_heads * n_tokens * kv.shape.head_dim;
  std::mt19937 rng(1000 + index);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  kv.k.resize(n);
  kv.v.resize(n);
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

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvf_load_server: concurrent clients against kvforge serve, every byte checked"};
  std::string url, token;
  int clients = 64, chunks = 16;
  double seconds = 60;
  size_t tokens = 256;
  app.add_option("--url", url, "Server URL, http://host:port")->required();
  app.add_option("--token", token, "Bearer token");
  app.add_option("--clients", clients, "Concurrent client threads")->capture_default_str();
  app.add_option("--seconds", seconds, "Duration of the load")->capture_default_str();
  app.add_option("--chunks", chunks, "Chunks put before the load")->capture_default_str();
  app.add_option("--tokens", tokens, "Tokens per chunk")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // One client object per thread: its own connection, as separate machines would have.
  std::vector<std::unique_ptr<server::StoreClient>> conns;
  for (int i = 0; i < clients; ++i) {
    auto c = server::StoreClient::make(url, {.token = token, .connect_timeout_ms = 3000, .timeout_ms = 30000});
    if (!c.ok()) {
      std::cerr << "kvf_load_server: " << c.status().to_string() << "\n";
      return 2;
    }
    conns.push_back(std::move(*c));
  }
  const std::vector<std::string> levels = {"fp16", "q8", "cachegen:level=1", "cachegen:level=3"};
  std::vector<store::StoredChunk> stored;
  std::vector<store::ChunkKey> keys;
  for (int i = 0; i < chunks; ++i) {
    stored.push_back(make_chunk(static_cast<uint32_t>(i), tokens, levels));
    keys.push_back(stored.back().key);
    if (Status s = conns[0]->put(stored.back()); !s.ok()) {
      std::cerr << "kvf_load_server: put: " << s.to_string() << "\n";
      return 2;
    }
  }
  std::cerr << "kvf_load_server: put " << chunks << " chunks; " << clients << " clients for " << seconds << " s\n";

  std::atomic<uint64_t> requests{0}, errors{0}, mismatches{0}, bytes{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
  std::mutex err_mu;
  std::string first_error;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(t) * 7919u + 1);
      auto& lat = latencies[static_cast<size_t>(t)];
      auto& c = *conns[static_cast<size_t>(t)];
      auto note = [&](const std::string& what) {
        std::lock_guard lock(err_mu);
        if (first_error.empty()) first_error = what;
      };
      for (uint64_t i = 0; std::chrono::steady_clock::now() < end; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        if (i % 8 == 7) {
          const size_t n = 1 + rng() % keys.size();
          auto r = c.lookup(std::span(keys).first(n));
          if (!r.ok()) {
            ++errors;
            note(r.status().to_string());
          } else if (*r != n) {
            ++mismatches;
          }
        } else {
          const auto& chunk = stored[rng() % stored.size()];
          const auto& level = chunk.levels[rng() % chunk.levels.size()];
          auto r = c.fetch_level(chunk.key, level.level);
          if (!r.ok()) {
            ++errors;
            note(r.status().to_string());
          } else {
            bytes += r->bytes.size();
            if (r->bytes != level.frame || r->tokens != chunk.tokens.size()) ++mismatches;
          }
        }
        lat.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        ++requests;
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  const double p50 = percentile(all, 0.50) * 1e3, p99 = percentile(all, 0.99) * 1e3;
  const double max = all.empty() ? 0 : *std::max_element(all.begin(), all.end()) * 1e3;
  std::cout << "clients " << clients << "\nseconds " << seconds << "\nrequests " << requests.load() << "\nerrors "
            << errors.load() << "\nmismatches " << mismatches.load() << "\nrequests_per_s "
            << static_cast<double>(requests.load()) / seconds << "\nmb_per_s "
            << static_cast<double>(bytes.load()) / seconds / 1e6 << "\np50_ms " << p50 << "\np99_ms " << p99
            << "\nmax_ms " << max << "\n";
  if (!first_error.empty()) std::cerr << "first error: " << first_error << "\n";
  return errors.load() == 0 && mismatches.load() == 0 ? 0 : 1;
}

// kvforge store serve: a chunk store over HTTP/1.1 (docs/SERVER.md) until SIGINT or SIGTERM.
// (It was `kvforge serve` before that name went to the inference server.)
#include <csignal>
#include <iostream>

#include "common.h"
#include "kvforge/server/server.h"
#include "kvforge/store/chunk_signer.h"
#include "kvforge/store/registry.h"
#include "kvforge/stream/bandwidth_trace.h"

namespace kvforge::cli {

namespace {

struct ServeArgs {
  std::string store;
  server::ServerOptions options;
  double bandwidth_mbps = 0;
  std::string trace;
  std::string secret_file;
};

int run_store_serve(const ServeArgs& a) {
  auto backend = store::open_backend(a.store);
  if (!backend.ok()) return fail(backend.status());
  server::ServerOptions options = a.options;
  if (!a.secret_file.empty()) {
    auto secret = store::read_secret_file(a.secret_file);
    if (!secret.ok()) return fail(secret.status().with_context("--secret-file"));
    options.secret = std::move(*secret);
  }
  if (a.bandwidth_mbps > 0 && !a.trace.empty()) {
    return fail(Status::InvalidArgument("serve: give --bandwidth-mbps or --trace, not both"));
  }
  if (a.bandwidth_mbps > 0) options.bandwidth = server::constant_mbps(a.bandwidth_mbps);
  if (!a.trace.empty()) {  // the link follows a trace (time from the server's start)
    auto trace = stream::make_trace(a.trace);
    if (!trace.ok()) return fail(trace.status().with_context("--trace"));
    std::shared_ptr<const stream::BandwidthTrace> t = std::move(*trace);
    options.bandwidth = [t](double seconds) { return t->bytes_per_second(seconds); };
  }
  // Block the stop signals in every thread (the server's inherit this mask), and
  // take them here with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto srv = server::Server::start(std::shared_ptr<store::Backend>(std::move(*backend)), std::move(options));
  if (!srv.ok()) return fail(srv.status());
  std::cerr << "kvforge store serve: " << a.store << " at " << (*srv)->url()
            << (a.options.token.empty() && a.options.read_token.empty() && a.options.write_token.empty()
                    ? ""
                    : " (bearer token required)")
            << (a.bandwidth_mbps > 0 ? " throttled to " + std::to_string(a.bandwidth_mbps) + " Mbit/s" : "")
            << (a.trace.empty() ? "" : " throttled by trace " + a.trace) << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "kvforge store serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping" << std::endl;
  (*srv)->stop();
  std::cerr << "kvforge store serve: stopped" << std::endl;
  return 0;
}

}  // namespace

std::pair<CLI::App*, Runner> register_store_serve(CLI::App* store) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = store->add_subcommand("serve", "Serve a chunk store over HTTP/1.1 (lookup, chunk levels, put, /metrics)");
  cmd->add_option("--store", a->store, "Store URL: file:///dir[?capacity=64g] or mem://")->required();
  cmd->add_option("--port", a->options.port, "TCP port (0: any free port, printed on stderr)")->required()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--host", a->options.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--token", a->options.token, "Require `Authorization: Bearer TOKEN` on every route");
  cmd->add_option("--max-body", a->options.max_body_bytes, "Largest request body in bytes (else 413)")
      ->capture_default_str();
  cmd->add_option("--secret-file", a->secret_file,
                  "Store secret: accept and serve only chunks signed with it (kvforge store put --secret-file)");
  cmd->add_option("--read-token", a->options.read_token, "Require this token (or a write token) on reads");
  cmd->add_option("--write-token", a->options.write_token, "Require this token on PUT");
  cmd->add_option("--timeout-ms", a->options.timeout_ms, "One socket read/write without progress")
      ->capture_default_str()->check(CLI::Range(1, 3600000));
  cmd->add_option("--header-timeout-ms", a->options.header_timeout_ms,
                  "A request head must be complete within this (total time)")
      ->capture_default_str()->check(CLI::Range(1, 3600000));
  cmd->add_option("--body-timeout-ms", a->options.body_timeout_ms,
                  "A request body must be complete within this after its head")
      ->capture_default_str()->check(CLI::Range(1, 3600000));
  cmd->add_option("--idle-timeout-ms", a->options.idle_timeout_ms, "Keep-alive wait for the next request")
      ->capture_default_str()->check(CLI::Range(1, 3600000));
  cmd->add_option("--max-connections", a->options.max_connections,
                  "Connections open at once; more wait in the listen backlog")
      ->capture_default_str()->check(CLI::Range(1, 60000));
  cmd->add_option("--threads", a->options.threads, "Worker threads (requests whose head has arrived)")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--trace", a->trace, "Emulate a link by a bandwidth trace: const:mbps=X | step:... | random:... (docs/STREAM.md)");
  cmd->add_option("--bandwidth-mbps", a->bandwidth_mbps, "Emulate a link: pace chunk bodies at X Mbit/s (0: off)")
      ->check(CLI::NonNegativeNumber);
  return {cmd, [a] { return run_store_serve(*a); }};
}

}  // namespace kvforge::cli

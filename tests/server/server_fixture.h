// A server on an ephemeral loopback port over a mem:// or file:// store, and a
// client of it, for the server tests.
#pragma once
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>

#include "kvforge/server/client.h"
#include "kvforge/server/server.h"
#include "kvforge/store/registry.h"

namespace kvforge::server::testing {

struct Running {
  std::shared_ptr<store::Backend> backend;
  std::unique_ptr<Server> server;
  std::unique_ptr<StoreClient> client;
};

inline Running start(const std::string& store_url = "mem://", ServerOptions options = {},
                     ClientOptions client_options = {}) {
  Running r;
  auto backend = store::open_backend(store_url);
  KVF_CHECK(backend.ok());
  r.backend = std::move(*backend);
  auto srv = Server::start(r.backend, std::move(options));
  KVF_CHECK(srv.ok());
  r.server = std::move(*srv);
  auto client = StoreClient::make(r.server->url(), std::move(client_options));
  KVF_CHECK(client.ok());
  r.client = std::move(*client);
  return r;
}

// A raw HTTP client of the server, for requests StoreClient never makes.
inline httplib::Client raw(const Server& s) {
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(std::chrono::seconds(10));
  return c;
}

// The value of a metrics line `name` (with its labels, exactly), or -1.
inline double metric(const std::string& text, const std::string& name) {
  size_t at = 0;
  while ((at = text.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + name.size() + 1));
    at += name.size();
  }
  return -1;
}

}  // namespace kvforge::server::testing

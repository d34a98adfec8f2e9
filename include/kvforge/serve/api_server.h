// `kvforge serve --model`: OpenAI's HTTP API over the serving engine
// (docs/SERVE.md).
//
//   POST /v1/completions        {"prompt", "max_tokens", "temperature", "top_p",
//   POST /v1/chat/completions    "top_k", "seed", "stop", "stream", ...} or {"messages", ...}
//   GET  /v1/models             the one model served
//   GET  /health                {"status":"ok", slots and queue}
//   GET  /metrics               Prometheus text (engine and HTTP)
//
// Extension fields choose KV techniques per request: kv_policy + kv_budget,
// pq_ratio, kv_store_levels. Errors are OpenAI's shape, {"error": {"message",
// "type", "code"}}: 400 bad input, 401 no token, 404 unknown model or route,
// 413 body too large, 503 (Retry-After) queue full.
#pragma once

#include <memory>
#include <string>

#include "kvforge/core/status.h"
#include "kvforge/serve/engine.h"
#include "kvforge/server/http_service.h"

namespace kvforge::serve {

struct ApiServerOptions {
  server::HttpServiceOptions http;
  std::string token;       // non-empty: every route needs `Authorization: Bearer <token>`
  std::string model_name;  // the id /v1/models lists; requests naming another model get 404
  // A chat template name (model::chat_template_names()); empty: detected from
  // the GGUF's tokenizer.chat_template. Undetectable: chat requests get 400.
  std::string chat_template;
};

class ApiServer {
 public:
  // InvalidArgument for an unknown --chat-template name; IOError when the
  // address cannot be bound.
  static Result<std::unique_ptr<ApiServer>> start(std::shared_ptr<Engine> engine, ApiServerOptions options);
  ~ApiServer();
  int port() const;
  std::string url() const;
  // The chat template in use, or "" with the reason chat is refused.
  const std::string& chat_template() const;
  void stop();

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvforge::serve

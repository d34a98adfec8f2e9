#include "kvforge/serve/api_server.h"

#include <atomic>
#include <chrono>

#include "kvforge/model/chat_template.h"
#include "serve/api_impl.h"

namespace kvforge::serve {

namespace {

const char* route_label(const httplib::Request& req) {
  if (req.path == "/v1/completions") return "completions";
  if (req.path == "/v1/chat/completions") return "chat_completions";
  if (req.path == "/v1/models") return "models";
  if (req.path == "/health") return "health";
  if (req.path == "/metrics") return "metrics";
  return "other";
}

}  // namespace

void ApiServer::Impl::send_error(httplib::Response& res, int status, const std::string& message,
                                 const std::string& type, const std::string& code) {
  res.status = status;
  res.set_content(error_json(message, type, code).dump(), "application/json");
}

int ApiServer::Impl::admission(const httplib::Request& req, httplib::Response& res) const {
  if (!options.token.empty() && !server::bearer_matches(req, options.token)) {
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, 401, "missing or wrong bearer token (Authorization: Bearer <token>)", "authentication_error",
               "invalid_api_key");
    return 401;
  }
  const std::optional<uint64_t> length = server::declared_content_length(req);
  if (!length) {
    send_error(res, 400, "Content-Length is not a number", "invalid_request_error");
    return 400;
  }
  if (*length > options.http.max_body_bytes) {
    send_error(res, 413, "request body over --max-body " + std::to_string(options.http.max_body_bytes) + " bytes",
               "invalid_request_error");
    return 413;
  }
  const bool has_body = req.has_header("Transfer-Encoding") || *length > 0;
  if (has_body && std::string_view(route_label(req)) == "other") {
    send_error(res, 404, "no route " + req.method + " " + req.path, "invalid_request_error", "not_found");
    return 404;
  }
  return 0;
}

void ApiServer::Impl::install(httplib::Server& http) {
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.content_length_ > 0) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404) {
      send_error(res, 404, "no route " + req.method + " " + req.path, "invalid_request_error", "not_found");
    } else {
      send_error(res, res.status, "bad request", res.status < 500 ? "invalid_request_error" : "server_error");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, 500, "internal error", "server_error");
  });
  const auto with_body = [this](bool chat) {
    return [this, chat](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
      std::string body;
      const Status s = server::read_limited_body(reader, options.http.max_body_bytes, &body);
      if (!s.ok()) {
        const int code = s.code() == StatusCode::kResourceExhausted ? 413 : s.is_io_error() ? 408 : 400;
        return send_error(res, code, s.message(), "invalid_request_error");
      }
      complete(req, body, chat, res);
    };
  };
  http.Post("/v1/completions", with_body(false));
  http.Post("/v1/chat/completions", with_body(true));
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const nlohmann::json model = {
        {"id", options.model_name}, {"object", "model"}, {"created", created}, {"owned_by", "kvforge"}};
    res.set_content(nlohmann::json{{"object", "list"}, {"data", {model}}}.dump(), "application/json");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const EngineStats s = engine->stats();
    res.set_content(nlohmann::json{{"status", "ok"},
                                   {"slots_idle", s.slots - s.active},
                                   {"slots_processing", s.active},
                                   {"queue", s.queued}}
                        .dump(),
                    "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(engine->metrics_text() + service->metrics_text(), "text/plain; version=0.0.4");
  });
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() { stop(); }

Result<std::unique_ptr<ApiServer>> ApiServer::start(std::shared_ptr<Engine> engine, ApiServerOptions options) {
  if (!engine) return Status::InvalidArgument("serve: no engine");
  auto impl = std::make_unique<Impl>();
  impl->engine = std::move(engine);
  impl->options = std::move(options);
  impl->created = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  if (!impl->options.chat_template.empty()) {
    // Validated by rendering one message: an unknown name lists the valid ones.
    KVF_RETURN_IF_ERROR(model::apply_chat_template(impl->options.chat_template, {{"user", "x"}}, true)
                            .status()
                            .with_context("--chat-template"));
    impl->chat_template = impl->options.chat_template;
  } else {
    auto detected = model::detect_chat_template(impl->engine->model().tokenizer()->vocab().chat_template);
    if (detected.ok()) {
      impl->chat_template = *detected;
    } else {
      impl->chat_error = detected.status().message();
    }
  }
  Impl* raw = impl.get();
  server::HttpServiceHooks hooks;
  hooks.install = [raw](httplib::Server& http) { raw->install(http); };
  hooks.admission = [raw](const httplib::Request& req, httplib::Response& res) { return raw->admission(req, res); };
  hooks.route_label = route_label;
  KVF_ASSIGN_OR_RETURN(impl->service, server::HttpService::start(impl->options.http, std::move(hooks)));
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

int ApiServer::port() const { return impl_->service->port(); }

std::string ApiServer::url() const { return impl_->service->url(); }

const std::string& ApiServer::chat_template() const { return impl_->chat_template; }

void ApiServer::stop() {
  if (impl_->service) impl_->service->stop();
}

}  // namespace kvforge::serve

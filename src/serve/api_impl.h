// Internal to the API server: its state and the handlers its files share.
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <string>

#include "kvforge/serve/api_server.h"
#include "serve/openai_request.h"

namespace kvforge::serve {

struct ApiServer::Impl {
  std::shared_ptr<Engine> engine;
  ApiServerOptions options;
  std::unique_ptr<server::HttpService> service;
  std::string chat_template;  // "" when chat is refused, for chat_error
  std::string chat_error;
  int64_t created = 0;
  std::atomic<uint64_t> next_id{1};

  static void send_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                         const std::string& code = {});
  int admission(const httplib::Request& req, httplib::Response& res) const;
  void install(httplib::Server& http);

  // /v1/completions and /v1/chat/completions (completion.cc).
  void complete(const httplib::Request& req, const std::string& body, bool chat, httplib::Response& res);
  void answer_whole(const ApiRequest& r, const std::string& id, std::shared_ptr<RequestStream> stream,
                    httplib::Response& res);
  void answer_stream(const ApiRequest& r, const std::string& id, std::shared_ptr<RequestStream> stream,
                     httplib::Response& res);
  nlohmann::json envelope(const ApiRequest& r, const std::string& id, bool chunk) const;
};

}  // namespace kvforge::serve

// The two generation routes, whole and streamed (server-sent events).
#include <chrono>

#include "serve/api_impl.h"

namespace kvforge::serve {

namespace {

using nlohmann::json;
constexpr std::chrono::milliseconds kPoll{50};

int status_for(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange: return 400;
    case StatusCode::kResourceExhausted: return 503;
    default: return 500;
  }
}

std::string sse(const json& event) { return "data: " + event.dump() + "\n\n"; }

}  // namespace

json ApiServer::Impl::envelope(const ApiRequest& r, const std::string& id, bool chunk) const {
  const char* object = r.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", id}, {"object", object}, {"created", created}, {"model", options.model_name}};
}

void ApiServer::Impl::complete(const httplib::Request&, const std::string& body, bool chat, httplib::Response& res) {
  auto parsed = parse_api_request(body, chat);
  if (!parsed.ok()) return send_error(res, 400, parsed.status().message(), "invalid_request_error");
  ApiRequest& r = *parsed;
  if (!r.model.empty() && r.model != options.model_name) {
    return send_error(res, 404, "the model '" + r.model + "' does not exist; this server serves '" +
                                    options.model_name + "' (GET /v1/models)",
                      "invalid_request_error", "model_not_found");
  }
  if (chat && chat_template.empty()) {
    return send_error(res, 400, "this model's chat template is not supported: " + chat_error,
                      "invalid_request_error", "chat_template");
  }
  auto tokens = prompt_tokens(r, *engine->model().tokenizer(), chat_template);
  if (!tokens.ok()) return send_error(res, 400, tokens.status().message(), "invalid_request_error");
  r.request.prompt = std::move(*tokens);
  auto stream = engine->submit(r.request);
  if (!stream.ok()) {
    const int code = status_for(stream.status());
    if (code == 503) res.set_header("Retry-After", "1");
    return send_error(res, code, stream.status().message(), code == 503 ? "server_busy" : "invalid_request_error");
  }
  const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++);
  if (r.stream) return answer_stream(r, id, std::move(*stream), res);
  answer_whole(r, id, std::move(*stream), res);
}

// Waits for the whole text; a client that hangs up cancels the request, so
// its slot is freed at the engine's next step.
void ApiServer::Impl::answer_whole(const ApiRequest& r, const std::string& id, std::shared_ptr<RequestStream> stream,
                                   httplib::Response& res) {
  std::string text;
  while (stream->next(&text, kPoll)) {
    if (server::HttpService::peer_closed()) stream->cancel();
  }
  const Outcome o = stream->outcome();
  if (o.finish_reason == "error") {
    return send_error(res, status_for(o.status), o.status.message(), "server_error");
  }
  json choice = {{"index", 0}, {"finish_reason", o.finish_reason}, {"logprobs", nullptr}};
  if (r.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  json out = envelope(r, id, false);
  out["choices"] = json::array({choice});
  out["usage"] = usage_json(o.usage);
  out["timings"] = {{"ttft_ms", o.ttft_ms}};
  res.set_content(out.dump(), "application/json");
}

void ApiServer::Impl::answer_stream(const ApiRequest& r, const std::string& id, std::shared_ptr<RequestStream> stream,
                                    httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  auto event = [this, r, id](const std::string* text, const char* finish) {
    json choice = {{"index", 0}, {"finish_reason", finish ? json(finish) : json()}};
    if (r.chat) {
      choice["delta"] = text ? json{{"content", *text}} : json::object();
    } else {
      choice["text"] = text ? *text : "";
    }
    json e = envelope(r, id, true);
    e["choices"] = json::array({choice});
    return e;
  };
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, r, id, stream, event](size_t, httplib::DataSink& sink) {
        const auto send = [&](const std::string& s) { return sink.is_writable() && sink.write(s.data(), s.size()); };
        if (r.chat) {
          json first = event(nullptr, nullptr);
          first["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
          if (!send(sse(first))) return stream->cancel(), false;
        }
        std::string piece;
        while (stream->next(&piece, kPoll)) {
          if (!piece.empty() && !send(sse(event(&piece, nullptr)))) return stream->cancel(), false;
          piece.clear();
          if (server::HttpService::peer_closed()) return stream->cancel(), false;
        }
        const Outcome o = stream->outcome();
        if (o.finish_reason == "error") {
          send(sse(error_json(o.status.message(), "server_error")));
        } else {
          send(sse(event(nullptr, o.finish_reason.c_str())));
        }
        if (r.include_usage) {
          json u = envelope(r, id, true);
          u["choices"] = json::array();
          u["usage"] = usage_json(o.usage);
          send(sse(u));
        }
        send("data: [DONE]\n\n");
        sink.done();
        return true;
      },
      [stream](bool) { stream->cancel(); });
}

}  // namespace kvforge::serve

#include "serve/openai_request.h"

#include <cmath>

namespace kvforge::serve {

namespace {

using nlohmann::json;

Status field_error(const std::string& field, const std::string& what) {
  return Status::InvalidArgument("'" + field + "' " + what);
}

// A number field within [lo, hi], or the default when absent or null.
template <typename T>
Status read_number(const json& j, const char* field, double lo, double hi, T* out) {
  if (!j.contains(field) || j[field].is_null()) return Status::OK();
  const json& v = j[field];
  if (!v.is_number()) return field_error(field, "must be a number");
  const double d = v.get<double>();
  if (!(d >= lo && d <= hi)) {
    return field_error(field, "must be within [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer() && !v.is_number_unsigned()) return field_error(field, "must be an integer");
    *out = v.get<T>();
  } else {
    *out = static_cast<T>(d);
  }
  return Status::OK();
}

Status read_stop(const json& j, std::vector<std::string>* stop) {
  if (!j.contains("stop") || j["stop"].is_null()) return Status::OK();
  const json& s = j["stop"];
  if (s.is_string()) {
    stop->push_back(s.get<std::string>());
  } else if (s.is_array() && s.size() <= 4) {
    for (const json& x : s) {
      if (!x.is_string()) return field_error("stop", "must be a string or an array of up to 4 strings");
      stop->push_back(x.get<std::string>());
    }
  } else {
    return field_error("stop", "must be a string or an array of up to 4 strings");
  }
  return Status::OK();
}

// The kvforge extension fields.
Status read_kv_options(const json& j, KvOptions* kv) {
  const auto text = [&](const char* field, std::string* out) -> Status {
    if (!j.contains(field) || j[field].is_null()) return Status::OK();
    const json& v = j[field];
    if (v.is_string()) {
      *out = v.get<std::string>();
    } else if (v.is_number()) {
      *out = v.dump();
    } else {
      return field_error(field, "must be a string or a number");
    }
    return Status::OK();
  };
  KVF_RETURN_IF_ERROR(text("kv_policy", &kv->policy));
  KVF_RETURN_IF_ERROR(text("kv_budget", &kv->budget));
  KVF_RETURN_IF_ERROR(text("pq_ratio", &kv->pq));
  if (j.contains("kv_store_levels") && !j["kv_store_levels"].is_null()) {
    const json& v = j["kv_store_levels"];
    if (!v.is_array()) return field_error("kv_store_levels", "must be an array of codec specs");
    for (const json& x : v) {
      if (!x.is_string()) return field_error("kv_store_levels", "must be an array of codec specs");
      kv->store_levels.push_back(x.get<std::string>());
    }
  }
  return Status::OK();
}

Status read_messages(const json& j, std::vector<model::ChatMessage>* messages) {
  if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
    return field_error("messages", "must be a non-empty array of {role, content}");
  }
  for (const json& m : j["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return field_error("messages", "entries need a string 'role'");
    }
    model::ChatMessage msg{m["role"].get<std::string>(), ""};
    const json content = m.value("content", json());
    if (content.is_string()) {
      msg.content = content.get<std::string>();
    } else if (content.is_array()) {  // [{type: "text", text}]
      for (const json& part : content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text")) {
          return field_error("messages", "content parts must be {\"type\": \"text\", \"text\": ...}");
        }
        msg.content += part["text"].get<std::string>();
      }
    } else if (!content.is_null()) {
      return field_error("messages", "content must be a string or an array of text parts");
    }
    messages->push_back(std::move(msg));
  }
  return Status::OK();
}

Status read_prompt(const json& j, ApiRequest* r) {
  if (!j.contains("prompt")) return field_error("prompt", "is required");
  json p = j["prompt"];
  if (p.is_array() && p.size() == 1 && p[0].is_string()) p = p[0];
  if (p.is_string()) {
    r->prompt_text = p.get<std::string>();
    return Status::OK();
  }
  if (p.is_array() && !p.empty()) {
    for (const json& t : p) {
      if (!t.is_number_integer()) return field_error("prompt", "must be a string or an array of token ids");
      r->prompt_tokens.push_back(t.get<int32_t>());
    }
    return Status::OK();
  }
  return field_error("prompt", "must be a string, one string in an array, or an array of token ids");
}

}  // namespace

Result<ApiRequest> parse_api_request(const std::string& body, bool chat) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("the request body is not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  ApiRequest r;
  r.chat = chat;
  if (j.contains("model") && !j["model"].is_null()) {
    if (!j["model"].is_string()) return field_error("model", "must be a string");
    r.model = j["model"].get<std::string>();
  }
  KVF_RETURN_IF_ERROR(chat ? read_messages(j, &r.messages) : read_prompt(j, &r));
  Request& q = r.request;
  KVF_RETURN_IF_ERROR(read_number(j, "max_tokens", 0, 1 << 30, &q.max_tokens));
  KVF_RETURN_IF_ERROR(read_number(j, "max_completion_tokens", 0, 1 << 30, &q.max_tokens));
  KVF_RETURN_IF_ERROR(read_number(j, "temperature", 0, 2, &q.sampling.temperature));
  KVF_RETURN_IF_ERROR(read_number(j, "top_p", 0, 1, &q.sampling.top_p));
  KVF_RETURN_IF_ERROR(read_number(j, "top_k", 0, 1 << 30, &q.sampling.top_k));
  if (j.contains("seed") && !j["seed"].is_null()) {
    int64_t seed = 0;
    KVF_RETURN_IF_ERROR(read_number(j, "seed", -9.3e18, 9.3e18, &seed));
    q.sampling.seed = static_cast<uint64_t>(seed);
  }
  int n = 1;
  KVF_RETURN_IF_ERROR(read_number(j, "n", 1, 1, &n));
  KVF_RETURN_IF_ERROR(read_stop(j, &q.stop));
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) return field_error("stream", "must be true or false");
    r.stream = j["stream"].get<bool>();
  }
  if (j.contains("stream_options") && j["stream_options"].is_object()) {
    r.include_usage = j["stream_options"].value("include_usage", false);
  }
  KVF_RETURN_IF_ERROR(read_kv_options(j, &q.kv));
  return r;
}

Result<std::vector<int32_t>> prompt_tokens(const ApiRequest& r, const model::Tokenizer& tok,
                                           const std::string& chat_template) {
  if (!r.prompt_tokens.empty()) {
    std::vector<int32_t> t = r.prompt_tokens;
    if (tok.add_bos() && tok.bos() >= 0 && t.front() != tok.bos()) t.insert(t.begin(), tok.bos());
    return t;
  }
  std::string text = r.prompt_text;
  if (r.chat) {
    KVF_ASSIGN_OR_RETURN(text, model::apply_chat_template(chat_template, r.messages, /*add_generation_prompt=*/true));
  }
  std::vector<int32_t> t = tok.encode(text, /*add_special=*/true, /*parse_special=*/true);
  if (t.empty()) return Status::InvalidArgument("the prompt encodes to no tokens");
  return t;
}

nlohmann::json error_json(const std::string& message, const std::string& type, const std::string& code) {
  return {{"error", {{"message", message}, {"type", type}, {"code", code.empty() ? json() : json(code)}}}};
}

nlohmann::json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"kvforge", {{"memory_tokens", u.memory_tokens}, {"store_tokens", u.store_tokens}}}};
}

}  // namespace kvforge::serve

// OpenAI request bodies to engine Requests, and the JSON of answers.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "kvforge/core/status.h"
#include "kvforge/model/chat_template.h"
#include "kvforge/model/tokenizer.h"
#include "kvforge/serve/request.h"

namespace kvforge::serve {

struct ApiRequest {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::string model;
  std::string prompt_text;                 // completions (a string prompt)
  std::vector<int32_t> prompt_tokens;      // completions (a token array prompt)
  std::vector<model::ChatMessage> messages;  // chat
  Request request;                         // all but the prompt tokens
};

// InvalidArgument naming the field for a body that is not what OpenAI's API
// takes (unknown fields are ignored, as OpenAI's server does).
Result<ApiRequest> parse_api_request(const std::string& body, bool chat);

// The prompt's tokens: a token array as given (BOS prepended when the
// vocabulary adds one and it is missing), text tokenized with special tokens
// parsed, chat messages through `chat_template` first.
Result<std::vector<int32_t>> prompt_tokens(const ApiRequest& r, const model::Tokenizer& tok,
                                           const std::string& chat_template);

// {"error": {"message", "type", "code"}}.
nlohmann::json error_json(const std::string& message, const std::string& type, const std::string& code = {});

nlohmann::json usage_json(const Usage& u);

}  // namespace kvforge::serve

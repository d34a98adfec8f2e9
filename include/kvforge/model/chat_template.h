// Chat templates: OpenAI-style `messages` ([{role, content}]) to a prompt
// string, as llama.cpp did before it embedded a Jinja engine (its legacy
// llm_chat_detect_template / llm_chat_apply_template, release b4748). kvforge
// does not run the Jinja text a GGUF carries in `tokenizer.chat_template`; it
// recognises the family by marker substrings and renders that family's
// format in C++, byte for byte what llama.cpp's legacy applier produced.
//
// Names are llama.cpp's `--chat-template` names (chat_template_names()):
//   chatml (Qwen), llama2, llama2-sys, llama2-sys-bos, llama2-sys-strip,
//   llama3, mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7, phi3,
//   phi4, gemma, deepseek, deepseek2, deepseek3, zephyr, vicuna,
//   vicuna-orca, openchat.
//
// BOS: the string never starts with BOS. As in llama.cpp, the tokenizer adds
// it (Tokenizer::encode with add_special, per Vocab::add_bos) and the prompt
// is tokenized with special tokens parsed. The only BOS text in a result is
// llama2-sys-bos's "<s>" before each later [INST], which llama.cpp's format
// writes inside the history.
//
// Roles are "system", "user" and "assistant"; anything else is refused rather
// than rendered in a form the model never saw in training.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::model {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The template names apply_chat_template accepts, in registry order.
std::vector<std::string> chat_template_names();

// The template family of a GGUF's `tokenizer.chat_template` Jinja text, found
// by the marker substrings llama.cpp used (e.g. "<|im_start|>" -> chatml,
// "<|start_header_id|>" -> llama3, "<start_of_turn>" -> gemma). A text that
// is itself a template name returns that name. Text matching no family is
// NotFound; a family llama.cpp knows but kvforge does not render (command-r,
// chatglm, ...) is NotSupported. Both messages list the names a user can force
// with `--chat-template NAME`: a wrong guess is never returned silently.
Result<std::string> detect_chat_template(std::string_view jinja_text);

// Renders `messages` with the named template; with `add_generation_prompt` the
// assistant's opening (e.g. "<|im_start|>assistant\n") follows, for the
// templates that have one (llama2 and mistral end every user turn with
// [/INST] and have none). InvalidArgument for an unknown name (listing the
// valid ones), no messages, or a message whose role is not system, user or
// assistant.
Result<std::string> apply_chat_template(std::string_view name, const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt);

}  // namespace kvforge::model

// The chat-template registry and apply_chat_template: names to formats
// (chat_template_formats.cc), through the one core::Registry every selectable
// thing uses, so an unknown name is answered as an unknown codec is.
#include "kvforge/model/chat_template.h"

#include "kvforge/core/registry.h"
#include "kvforge/core/spec.h"
#include "model/chat_template_formats.h"

namespace kvforge::model {
namespace {

using chat::AffixStyle;
using chat::ChatFormat;
using chat::RenderFn;

template <RenderFn Render, const AffixStyle* Style = nullptr, int Variant = 0>
Result<ChatFormat> make(core::Spec&) {
  return ChatFormat{.render = Render, .style = Style, .variant = Variant};
}

template <const AffixStyle* Style>
constexpr auto affixed = make<chat::render_affixed, Style>;

template <int Variant>
constexpr auto llama2 = make<chat::render_llama2, nullptr, Variant>;

template <int Variant>
constexpr auto mistral = make<chat::render_mistral, nullptr, Variant>;

const core::Registry<ChatFormat>& registry() {
  namespace s = chat::styles;
  static const core::Registry<ChatFormat> kTemplates(
      "chat template", {
                           {.name = "chatml", .make = affixed<&s::kChatml>},
                           {.name = "llama2", .make = llama2<0>},
                           {.name = "llama2-sys", .make = llama2<chat::kLlama2System>},
                           {.name = "llama2-sys-bos", .make = llama2<chat::kLlama2System | chat::kLlama2BosInHistory>},
                           {.name = "llama2-sys-strip", .make = llama2<chat::kLlama2System | chat::kLlama2Strip>},
                           {.name = "llama3", .make = affixed<&s::kLlama3>},
                           {.name = "mistral-v1", .make = mistral<chat::kMistralV1>},
                           {.name = "mistral-v3", .make = mistral<chat::kMistralV3>},
                           {.name = "mistral-v3-tekken", .make = mistral<chat::kMistralV3Tekken>},
                           {.name = "mistral-v7", .make = affixed<&s::kMistralV7>},
                           {.name = "phi3", .make = affixed<&s::kPhi3>},
                           {.name = "phi4", .make = affixed<&s::kPhi4>},
                           {.name = "gemma", .make = make<chat::render_gemma>},
                           {.name = "deepseek", .make = affixed<&s::kDeepseek>},
                           {.name = "deepseek2", .make = affixed<&s::kDeepseek2>},
                           {.name = "deepseek3", .make = affixed<&s::kDeepseek3>},
                           {.name = "zephyr", .make = affixed<&s::kZephyr>},
                           {.name = "vicuna", .make = affixed<&s::kVicuna>},
                           {.name = "vicuna-orca", .make = affixed<&s::kVicunaOrca>},
                           {.name = "openchat", .make = affixed<&s::kOpenchat>},
                       });
  return kTemplates;
}

Result<chat::Role> parse_role(std::string_view name, size_t index, std::string_view role) {
  if (role == "system") return chat::Role::kSystem;
  if (role == "user") return chat::Role::kUser;
  if (role == "assistant") return chat::Role::kAssistant;
  return Status::InvalidArgument("chat template " + core::quote(name) + ": message " + std::to_string(index) +
                                 " has role " + core::quote(role) + " (valid roles: system, user, assistant)");
}

}  // namespace

std::vector<std::string> chat_template_names() { return registry().names(); }

Result<std::string> apply_chat_template(std::string_view name, const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt) {
  // A spec suffix ("chatml:x=1") would be refused by finish(); templates take no keys.
  KVF_ASSIGN_OR_RETURN(ChatFormat format, registry().make(name));
  if (messages.empty()) {
    return Status::InvalidArgument("chat template " + core::quote(name) + ": no messages to render");
  }
  std::vector<chat::Turn> turns;
  turns.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    KVF_ASSIGN_OR_RETURN(chat::Role role, parse_role(name, i, messages[i].role));
    turns.push_back({role, messages[i].content});
  }
  return format.render(format, turns, add_generation_prompt);
}

}  // namespace kvforge::model

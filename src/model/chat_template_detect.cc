// detect_chat_template: a GGUF's Jinja chat template to a family name by the
// marker substrings llama.cpp's llm_chat_detect_template checks, in its order,
// because several markers overlap (phi4 also has <|im_start|>; falcon3 and
// glmedge share <|assistant|>). Families llama.cpp knows but kvforge does not
// render are still recognised, so their templates are refused by name instead
// of falling through to a later, wrong match.
#include <array>
#include <string>

#include "kvforge/core/spec.h"
#include "kvforge/model/chat_template.h"

namespace kvforge::model {
namespace {

struct Rule {
  std::array<std::string_view, 3> markers;  // all must appear; empty ones are skipped
  std::string_view family;
};

// After <|im_start|> and the [INST] families, llama.cpp's remaining checks.
constexpr Rule kRules[] = {
    {{"<|assistant|>", "<|end|>"}, "phi3"},
    {{"[gMASK]<sop>"}, "chatglm4"},
    {{"<|assistant|>", "<|user|>", "</s>"}, "falcon3"},
    {{"<|assistant|>", "<|user|>"}, "glmedge"},
    {{"<|{{ item['role'] }}|>", "<|begin_of_image|>"}, "glmedge"},
    {{"<|user|>", "<|endoftext|>"}, "zephyr"},
    {{"bos_token + message['role']"}, "monarch"},
    {{"<start_of_turn>"}, "gemma"},
    {{"'\\n\\nAssistant: ' + eos_token"}, "orion"},
    {{"GPT4 Correct "}, "openchat"},
    {{"USER: ", "ASSISTANT: ", "SYSTEM: "}, "vicuna-orca"},
    {{"USER: ", "ASSISTANT: "}, "vicuna"},
    {{"### Instruction:", "<|EOT|>"}, "deepseek"},
    {{"<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>"}, "command-r"},
    {{"<|start_header_id|>", "<|end_header_id|>"}, "llama3"},
    {{"[gMASK]sop"}, "chatglm3"},
    {{"<\xE7\x94\xA8\xE6\x88\xB7>"}, "minicpm"},  // "<用户>"
    {{"'Assistant: ' + message['content'] + eos_token"}, "deepseek2"},
    {{"<\xEF\xBD\x9C"
      "Assistant\xEF\xBD\x9C>",
      "<\xEF\xBD\x9C"
      "User\xEF\xBD\x9C>",
      "<\xEF\xBD\x9C"
      "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"},
     "deepseek3"},
    {{"[|system|]", "[|assistant|]", "[|endofturn|]"}, "exaone3"},
    {{"rwkv-world"}, "rwkv-world"},
    {{"{{- 'User: ' + message['content']|trim + '\\n\\n' -}}"}, "rwkv-world"},
    {{"<|start_of_role|>"}, "granite"},
    {{"message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]"},
     "gigachat"},
    {{"<|role_start|>"}, "megrez"},
    {{"<|header_start|>", "<|header_end|>"}, "llama4"},
};

bool contains(std::string_view text, std::string_view marker) { return text.find(marker) != std::string_view::npos; }

// The [INST] family: Mistral's official templates by their distinctive
// spellings, else one of llama2's variants by what its Jinja does.
std::string_view inst_family(std::string_view t) {
  if (contains(t, "[SYSTEM_PROMPT]")) return "mistral-v7";
  if (contains(t, "' [INST] ' + system_message") || contains(t, "[AVAILABLE_TOOLS]")) {
    if (contains(t, " [INST]")) return "mistral-v1";
    if (contains(t, "\"[INST]\"")) return "mistral-v3-tekken";
    return "mistral-v3";
  }
  if (contains(t, "content.strip()")) return "llama2-sys-strip";
  if (contains(t, "bos_token + '[INST]")) return "llama2-sys-bos";
  if (contains(t, "<<SYS>>")) return "llama2-sys";
  return "llama2";
}

std::string_view family_of(std::string_view t) {
  if (contains(t, "<|im_start|>")) {
    if (contains(t, "<|im_sep|>")) return "phi4";
    // SmolVLM uses <|im_start|> as its BOS; its turns are not chatml.
    if (contains(t, "<end_of_utterance>")) return "smolvlm";
    return "chatml";
  }
  if (t.starts_with("mistral") || contains(t, "[INST]")) return inst_family(t);
  for (const Rule& r : kRules) {
    bool all = true;
    for (std::string_view m : r.markers) all = all && (m.empty() || contains(t, m));
    if (all) return r.family;
  }
  return {};
}

std::string force_hint(const std::vector<std::string>& names) {
  return "; choose one with --chat-template NAME (valid: " + core::join_names(names) + ")";
}

}  // namespace

Result<std::string> detect_chat_template(std::string_view jinja_text) {
  const std::vector<std::string> names = chat_template_names();
  for (const std::string& n : names) {
    if (jinja_text == n) return n;
  }
  if (jinja_text.empty()) {
    return Status::NotFound("chat template: the model carries no tokenizer.chat_template" + force_hint(names));
  }
  const std::string_view family = family_of(jinja_text);
  if (family.empty()) {
    return Status::NotFound(
        "chat template: unknown template (tokenizer.chat_template matches none of the known families; kvforge "
        "recognises them by marker text and does not run Jinja)" +
        force_hint(names));
  }
  for (const std::string& n : names) {
    if (family == n) return n;
  }
  return Status::NotSupported("chat template: tokenizer.chat_template is llama.cpp's " + core::quote(family) +
                              " family, which kvforge does not render" + force_hint(names));
}

}  // namespace kvforge::model

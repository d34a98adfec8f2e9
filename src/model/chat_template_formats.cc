// The formats of llama.cpp's legacy chat-template applier (b4748), one table
// row per affix-only template and a renderer for each stateful family.
#include "model/chat_template_formats.h"

namespace kvforge::model::chat {

namespace styles {

// "<｜end▁of▁sentence｜>" and friends: DeepSeek's fullwidth-bar specials.
#define KVF_DS_EOS \
  "<\xEF\xBD\x9C"  \
  "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"
#define KVF_DS_USER \
  "<\xEF\xBD\x9C"   \
  "User\xEF\xBD\x9C>"
#define KVF_DS_ASSISTANT \
  "<\xEF\xBD\x9C"        \
  "Assistant\xEF\xBD\x9C>"

const AffixStyle kChatml{.system = {"<|im_start|>system\n", "<|im_end|>\n"},
                         .user = {"<|im_start|>user\n", "<|im_end|>\n"},
                         .assistant = {"<|im_start|>assistant\n", "<|im_end|>\n"},
                         .generation = "<|im_start|>assistant\n"};
const AffixStyle kPhi3{.system = {"<|system|>\n", "<|end|>\n"},
                       .user = {"<|user|>\n", "<|end|>\n"},
                       .assistant = {"<|assistant|>\n", "<|end|>\n"},
                       .generation = "<|assistant|>\n"};
const AffixStyle kPhi4{.system = {"<|im_start|>system<|im_sep|>", "<|im_end|>"},
                       .user = {"<|im_start|>user<|im_sep|>", "<|im_end|>"},
                       .assistant = {"<|im_start|>assistant<|im_sep|>", "<|im_end|>"},
                       .generation = "<|im_start|>assistant<|im_sep|>"};
const AffixStyle kZephyr{.system = {"<|system|>\n", "<|endoftext|>\n"},
                         .user = {"<|user|>\n", "<|endoftext|>\n"},
                         .assistant = {"<|assistant|>\n", "<|endoftext|>\n"},
                         .generation = "<|assistant|>\n"};
const AffixStyle kLlama3{.system = {"<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>"},
                         .user = {"<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>"},
                         .assistant = {"<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"},
                         .generation = "<|start_header_id|>assistant<|end_header_id|>\n\n",
                         .trim = true};
// v7 opens each turn without the v1/v3 state: no [INST] is carried across turns.
const AffixStyle kMistralV7{.system = {"[SYSTEM_PROMPT] ", "[/SYSTEM_PROMPT]"},
                            .user = {"[INST] ", "[/INST]"},
                            .assistant = {" ", "</s>"},
                            .generation = ""};
const AffixStyle kDeepseek{.system = {"", ""},
                           .user = {"### Instruction:\n", "\n"},
                           .assistant = {"### Response:\n", "\n<|EOT|>\n"},
                           .generation = "### Response:\n"};
const AffixStyle kDeepseek2{.system = {"", "\n\n"},
                            .user = {"User: ", "\n\n"},
                            .assistant = {"Assistant: ", KVF_DS_EOS},
                            .generation = "Assistant:"};
const AffixStyle kDeepseek3{.system = {"", "\n\n"},
                            .user = {KVF_DS_USER, ""},
                            .assistant = {KVF_DS_ASSISTANT, KVF_DS_EOS},
                            .generation = KVF_DS_ASSISTANT};
const AffixStyle kVicuna{.system = {"", "\n\n"},
                         .user = {"USER: ", "\n"},
                         .assistant = {"ASSISTANT: ", "</s>\n"},
                         .generation = "ASSISTANT:"};
const AffixStyle kVicunaOrca{.system = {"SYSTEM: ", "\n"},
                             .user = {"USER: ", "\n"},
                             .assistant = {"ASSISTANT: ", "</s>\n"},
                             .generation = "ASSISTANT:"};
const AffixStyle kOpenchat{.system = {"", "<|end_of_turn|>"},
                           .user = {"GPT4 Correct User: ", "<|end_of_turn|>"},
                           .assistant = {"GPT4 Correct Assistant: ", "<|end_of_turn|>"},
                           .generation = "GPT4 Correct Assistant:"};

#undef KVF_DS_EOS
#undef KVF_DS_USER
#undef KVF_DS_ASSISTANT

}  // namespace styles

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

const Affixes& affixes_for(const AffixStyle& style, Role role) {
  switch (role) {
    case Role::kSystem:
      return style.system;
    case Role::kUser:
      return style.user;
    case Role::kAssistant:
      break;
  }
  return style.assistant;
}

}  // namespace

std::string_view trim(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

std::string render_affixed(const ChatFormat& format, const std::vector<Turn>& turns, bool add_generation) {
  const AffixStyle& style = *format.style;
  std::string out;
  for (const Turn& t : turns) {
    const Affixes& a = affixes_for(style, t.role);
    out += a.prefix;
    out += style.trim ? trim(t.content) : t.content;
    out += a.suffix;
  }
  if (add_generation) out += style.generation;
  return out;
}

// One [INST] opens the conversation and each turn after an assistant reply;
// llama2 has no generation prompt because a user turn already ends in [/INST].
std::string render_llama2(const ChatFormat& format, const std::vector<Turn>& turns, bool /*add_generation*/) {
  const bool system_block = (format.variant & kLlama2System) != 0;
  const bool bos_in_history = (format.variant & kLlama2BosInHistory) != 0;
  const bool strip = (format.variant & kLlama2Strip) != 0;
  std::string out = "[INST] ";
  bool inside_turn = true;
  for (const Turn& t : turns) {
    const std::string_view content = strip ? trim(t.content) : t.content;
    if (!inside_turn) {
      inside_turn = true;
      out += bos_in_history ? "<s>[INST] " : "[INST] ";
    }
    if (t.role == Role::kSystem) {
      // Without <<SYS>> the system text still reaches the model, as a first line.
      out += system_block ? "<<SYS>>\n" : "";
      out += content;
      out += system_block ? "\n<</SYS>>\n\n" : "\n";
    } else if (t.role == Role::kUser) {
      out += content;
      out += " [/INST]";
    } else {
      out += content;
      out += "</s>";
      inside_turn = false;
    }
  }
  return out;
}

// Mistral's v1 / v3 / v3-tekken differ only in spaces around [INST] and in
// whether v3 trims the assistant's reply (Mistral's cookbook tokenization notes).
std::string render_mistral(const ChatFormat& format, const std::vector<Turn>& turns, bool /*add_generation*/) {
  const std::string_view leading = format.variant == kMistralV1 ? " " : "";
  const std::string_view trailing = format.variant == kMistralV3Tekken ? "" : " ";
  const bool trim_reply = format.variant == kMistralV3;
  std::string out;
  bool inside_turn = false;
  for (const Turn& t : turns) {
    if (!inside_turn) {
      out += leading;
      out += "[INST]";
      out += trailing;
      inside_turn = true;
    }
    if (t.role == Role::kSystem) {
      out += t.content;
      out += "\n\n";
    } else if (t.role == Role::kUser) {
      out += t.content;
      out += leading;
      out += "[/INST]";
    } else {
      out += trailing;
      out += trim_reply ? trim(t.content) : t.content;
      out += "</s>";
      inside_turn = false;
    }
  }
  return out;
}

// Gemma has no system role: the system text is merged into the next user turn.
std::string render_gemma(const ChatFormat& /*format*/, const std::vector<Turn>& turns, bool add_generation) {
  std::string system;
  std::string out;
  for (const Turn& t : turns) {
    if (t.role == Role::kSystem) {
      system += trim(t.content);
      continue;
    }
    const bool model = t.role == Role::kAssistant;
    out += model ? "<start_of_turn>model\n" : "<start_of_turn>user\n";
    if (!system.empty() && !model) {
      out += system;
      out += "\n\n";
      system.clear();
    }
    out += trim(t.content);
    out += "<end_of_turn>\n";
  }
  if (add_generation) out += "<start_of_turn>model\n";
  return out;
}

}  // namespace kvforge::model::chat

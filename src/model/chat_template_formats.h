// Internal to chat templates: the renderers behind each template name.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kvforge::model::chat {

enum class Role { kSystem = 0, kUser = 1, kAssistant = 2 };

struct Turn {
  Role role;
  std::string_view content;
};

// Text around a message's content, per role.
struct Affixes {
  std::string_view prefix;
  std::string_view suffix;
};

// A format where each message is prefix + content + suffix by role alone
// (chatml, llama3, phi3, deepseek, ...): most of llama.cpp's table is one.
struct AffixStyle {
  Affixes system;
  Affixes user;
  Affixes assistant;
  std::string_view generation;  // appended with add_generation_prompt
  bool trim = false;            // content with surrounding whitespace removed
};

struct ChatFormat;
using RenderFn = std::string (*)(const ChatFormat& format, const std::vector<Turn>& turns, bool add_generation);

struct ChatFormat {
  RenderFn render = nullptr;
  const AffixStyle* style = nullptr;  // render_affixed's table
  int variant = 0;                    // the llama2 / mistral knobs below
};

// llama2 variants, as bits.
inline constexpr int kLlama2System = 1;        // <<SYS>> block instead of a bare line
inline constexpr int kLlama2BosInHistory = 2;  // "<s>" before each later [INST]
inline constexpr int kLlama2Strip = 4;         // every content trimmed

// mistral v1 / v3 / v3-tekken.
inline constexpr int kMistralV1 = 1;
inline constexpr int kMistralV3 = 3;
inline constexpr int kMistralV3Tekken = 4;

std::string render_affixed(const ChatFormat& format, const std::vector<Turn>& turns, bool add_generation);
std::string render_llama2(const ChatFormat& format, const std::vector<Turn>& turns, bool add_generation);
std::string render_mistral(const ChatFormat& format, const std::vector<Turn>& turns, bool add_generation);
std::string render_gemma(const ChatFormat& format, const std::vector<Turn>& turns, bool add_generation);

// Whitespace as C's isspace sees it, removed from both ends (llama.cpp's trim).
std::string_view trim(std::string_view text);

namespace styles {
extern const AffixStyle kChatml, kPhi3, kPhi4, kZephyr, kLlama3, kMistralV7, kDeepseek, kDeepseek2, kDeepseek3, kVicuna,
    kVicunaOrca, kOpenchat;
}  // namespace styles

}  // namespace kvforge::model::chat

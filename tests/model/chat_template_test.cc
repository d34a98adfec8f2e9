// Chat templates against llama.cpp. The expected prompts are llama.cpp
// b4748's own output: /work/shared/reference/llama.cpp-b4748/bin/llama-server
// run with `--chat-template NAME` (no --jinja: its legacy applier) and asked
// `POST /apply-template` for each conversation below. That endpoint always adds
// the generation prompt, so the add_generation_prompt=false cases are the same
// strings without the opening llama.cpp's llm_chat_apply_template appends when
// add_ass is set (src/llama-chat.cpp).
#include "kvforge/model/chat_template.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/gguf_writer.h"
#include "shared_paths.h"

namespace kvforge::model {
namespace {

using kvforge::testing::shared;

// A: system + user. B: user / assistant / user, the reply padded with spaces
// (which llama3, gemma, mistral-v3 and llama2-sys-strip trim). C: all three
// roles, system and first user message padded.
const std::vector<std::vector<ChatMessage>> kConversations = {
    {{"system", "You are a helpful assistant"}, {"user", "Hello"}},
    {{"user", "Hi there"}, {"assistant", " How can I help? "}, {"user", "Tell me a joke"}},
    {{"system", " Be brief. "}, {"user", " What is 2+2? "}, {"assistant", "4"}, {"user", "And 3+3?"}},
};

// llama-server b4748's "prompt" for conversations A, B, C (add_generation_prompt).
const std::map<std::string, std::vector<std::string>> kReference = {
    {"chatml",
     {"<|im_start|>system\nYou are a helpful "
      "assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
      "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n How can I help? "
      "<|im_end|>\n<|im_start|>user\nTell me a joke<|im_end|>\n<|im_start|>assistant\n",
      "<|im_start|>system\n Be brief. <|im_end|>\n<|im_start|>user\n What is 2+2? "
      "<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n"}},
    {"llama2",
     {"[INST] You are a helpful assistant\nHello [/INST]",
      "[INST] Hi there [/INST] How can I help? </s>[INST] Tell me a joke [/INST]",
      "[INST]  Be brief. \n What is 2+2?  [/INST]4</s>[INST] And 3+3? [/INST]"}},
    {"llama2-sys",
     {"[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]",
      "[INST] Hi there [/INST] How can I help? </s>[INST] Tell me a joke [/INST]",
      "[INST] <<SYS>>\n Be brief. \n<</SYS>>\n\n What is 2+2?  [/INST]4</s>[INST] And 3+3? [/INST]"}},
    {"llama2-sys-bos",
     {"[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]",
      "[INST] Hi there [/INST] How can I help? </s><s>[INST] Tell me a joke [/INST]",
      "[INST] <<SYS>>\n Be brief. \n<</SYS>>\n\n What is 2+2?  [/INST]4</s><s>[INST] And 3+3? [/INST]"}},
    {"llama2-sys-strip",
     {"[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]",
      "[INST] Hi there [/INST]How can I help?</s>[INST] Tell me a joke [/INST]",
      "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is 2+2? [/INST]4</s>[INST] And 3+3? [/INST]"}},
    {"llama3",
     {"<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful "
      "assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_"
      "header_id|>\n\n",
      "<|start_header_id|>user<|end_header_id|>\n\nHi "
      "there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHow can I "
      "help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a "
      "joke<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
      "<|start_header_id|>system<|end_header_id|>\n\nBe "
      "brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is "
      "2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|><|start_header_id|>user<|end_header_"
      "id|>\n\nAnd 3+3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"}},
    {"mistral-v1",
     {" [INST] You are a helpful assistant\n\nHello [/INST]",
      " [INST] Hi there [/INST]  How can I help? </s> [INST] Tell me a joke [/INST]",
      " [INST]  Be brief. \n\n What is 2+2?  [/INST] 4</s> [INST] And 3+3? [/INST]"}},
    {"mistral-v3",
     {"[INST] You are a helpful assistant\n\nHello[/INST]",
      "[INST] Hi there[/INST] How can I help?</s>[INST] Tell me a joke[/INST]",
      "[INST]  Be brief. \n\n What is 2+2? [/INST] 4</s>[INST] And 3+3?[/INST]"}},
    {"mistral-v3-tekken",
     {"[INST]You are a helpful assistant\n\nHello[/INST]",
      "[INST]Hi there[/INST] How can I help? </s>[INST]Tell me a joke[/INST]",
      "[INST] Be brief. \n\n What is 2+2? [/INST]4</s>[INST]And 3+3?[/INST]"}},
    {"mistral-v7",
     {"[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST]",
      "[INST] Hi there[/INST]  How can I help? </s>[INST] Tell me a joke[/INST]",
      "[SYSTEM_PROMPT]  Be brief. [/SYSTEM_PROMPT][INST]  What is 2+2? [/INST] 4</s>[INST] And 3+3?[/INST]"}},
    {"phi3",
     {"<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\n",
      "<|user|>\nHi there<|end|>\n<|assistant|>\n How can I help? <|end|>\n<|user|>\nTell me a "
      "joke<|end|>\n<|assistant|>\n",
      "<|system|>\n Be brief. <|end|>\n<|user|>\n What is 2+2? <|end|>\n<|assistant|>\n4<|end|>\n<|user|>\nAnd "
      "3+3?<|end|>\n<|assistant|>\n"}},
    {"phi4",
     {"<|im_start|>system<|im_sep|>You are a helpful "
      "assistant<|im_end|><|im_start|>user<|im_sep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>",
      "<|im_start|>user<|im_sep|>Hi there<|im_end|><|im_start|>assistant<|im_sep|> How can I help? "
      "<|im_end|><|im_start|>user<|im_sep|>Tell me a joke<|im_end|><|im_start|>assistant<|im_sep|>",
      "<|im_start|>system<|im_sep|> Be brief. <|im_end|><|im_start|>user<|im_sep|> What is 2+2? "
      "<|im_end|><|im_start|>assistant<|im_sep|>4<|im_end|><|im_start|>user<|im_sep|>And "
      "3+3?<|im_end|><|im_start|>assistant<|im_sep|>"}},
    {"gemma",
     {"<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\n",
      "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\nHow can I "
      "help?<end_of_turn>\n<start_of_turn>user\nTell me a joke<end_of_turn>\n<start_of_turn>model\n",
      "<start_of_turn>user\nBe brief.\n\nWhat is "
      "2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n<start_of_turn>user\nAnd "
      "3+3?<end_of_turn>\n<start_of_turn>model\n"}},
    {"deepseek",
     {"You are a helpful assistant### Instruction:\nHello\n### Response:\n",
      "### Instruction:\nHi there\n### Response:\n How can I help? \n<|EOT|>\n### Instruction:\nTell me a joke\n### "
      "Response:\n",
      " Be brief. ### Instruction:\n What is 2+2? \n### Response:\n4\n<|EOT|>\n### Instruction:\nAnd 3+3?\n### "
      "Response:\n"}},
    {"deepseek2",
     {"You are a helpful assistant\n\nUser: Hello\n\nAssistant:",
      "User: Hi there\n\nAssistant:  How can I help? <｜end▁of▁sentence｜>User: Tell me a joke\n\nAssistant:",
      " Be brief. \n\nUser:  What is 2+2? \n\nAssistant: 4<｜end▁of▁sentence｜>User: And 3+3?\n\nAssistant:"}},
    {"deepseek3",
     {"You are a helpful assistant\n\n<｜User｜>Hello<｜Assistant｜>",
      "<｜User｜>Hi there<｜Assistant｜> How can I help? <｜end▁of▁sentence｜><｜User｜>Tell me a joke<｜Assistant｜>",
      " Be brief. \n\n<｜User｜> What is 2+2? <｜Assistant｜>4<｜end▁of▁sentence｜><｜User｜>And 3+3?<｜Assistant｜>"}},
    {"zephyr",
     {"<|system|>\nYou are a helpful assistant<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|assistant|>\n",
      "<|user|>\nHi there<|endoftext|>\n<|assistant|>\n How can I help? <|endoftext|>\n<|user|>\nTell me a "
      "joke<|endoftext|>\n<|assistant|>\n",
      "<|system|>\n Be brief. <|endoftext|>\n<|user|>\n What is 2+2? "
      "<|endoftext|>\n<|assistant|>\n4<|endoftext|>\n<|user|>\nAnd 3+3?<|endoftext|>\n<|assistant|>\n"}},
    {"vicuna",
     {"You are a helpful assistant\n\nUSER: Hello\nASSISTANT:",
      "USER: Hi there\nASSISTANT:  How can I help? </s>\nUSER: Tell me a joke\nASSISTANT:",
      " Be brief. \n\nUSER:  What is 2+2? \nASSISTANT: 4</s>\nUSER: And 3+3?\nASSISTANT:"}},
    {"vicuna-orca",
     {"SYSTEM: You are a helpful assistant\nUSER: Hello\nASSISTANT:",
      "USER: Hi there\nASSISTANT:  How can I help? </s>\nUSER: Tell me a joke\nASSISTANT:",
      "SYSTEM:  Be brief. \nUSER:  What is 2+2? \nASSISTANT: 4</s>\nUSER: And 3+3?\nASSISTANT:"}},
    {"openchat",
     {"You are a helpful assistant<|end_of_turn|>GPT4 Correct User: Hello<|end_of_turn|>GPT4 Correct Assistant:",
      "GPT4 Correct User: Hi there<|end_of_turn|>GPT4 Correct Assistant:  How can I help? <|end_of_turn|>GPT4 Correct "
      "User: Tell me a joke<|end_of_turn|>GPT4 Correct Assistant:",
      " Be brief. <|end_of_turn|>GPT4 Correct User:  What is 2+2? <|end_of_turn|>GPT4 Correct Assistant: "
      "4<|end_of_turn|>GPT4 Correct User: And 3+3?<|end_of_turn|>GPT4 Correct Assistant:"}},
};

TEST(ChatTemplate, NamesAreLlamaCppsAndAllHaveReferences) {
  const std::vector<std::string> names = chat_template_names();
  EXPECT_EQ(names.size(), kReference.size());
  for (const std::string& n : names) EXPECT_EQ(kReference.count(n), 1u) << n;
  for (const char* required : {"llama2", "llama2-sys", "llama3", "chatml", "mistral-v1", "mistral-v3", "mistral-v7",
                               "phi3", "gemma", "deepseek", "deepseek2", "deepseek3"}) {
    EXPECT_EQ(kReference.count(required), 1u) << required;
  }
}

TEST(ChatTemplate, MatchesLlamaServerForEveryTemplate) {
  for (const auto& [name, expected] : kReference) {
    for (size_t c = 0; c < kConversations.size(); ++c) {
      Result<std::string> got = apply_chat_template(name, kConversations[c], /*add_generation_prompt=*/true);
      ASSERT_TRUE(got.ok()) << name << ": " << got.status().to_string();
      EXPECT_EQ(*got, expected[c]) << name << ", conversation " << c;
    }
  }
}

TEST(ChatTemplate, WithoutGenerationPromptDropsOnlyTheAssistantOpening) {
  struct Case {
    std::string name;
    std::string opening;  // what llama.cpp appends for add_ass
  };
  const Case cases[] = {
      {"chatml", "<|im_start|>assistant\n"},
      {"llama3", "<|start_header_id|>assistant<|end_header_id|>\n\n"},
      {"phi3", "<|assistant|>\n"},
      {"gemma", "<start_of_turn>model\n"},
      {"deepseek", "### Response:\n"},
      {"deepseek3",
       "<\xEF\xBD\x9C"
       "Assistant\xEF\xBD\x9C>"},
      {"llama2-sys", ""},  // a user turn already ends in [/INST]
      {"mistral-v3", ""},
      {"mistral-v7", ""},
  };
  for (const Case& k : cases) {
    for (size_t c = 0; c < kConversations.size(); ++c) {
      const std::string& with = kReference.at(k.name)[c];
      ASSERT_TRUE(with.ends_with(k.opening)) << k.name;
      Result<std::string> got = apply_chat_template(k.name, kConversations[c], /*add_generation_prompt=*/false);
      ASSERT_TRUE(got.ok()) << k.name << ": " << got.status().to_string();
      EXPECT_EQ(*got, with.substr(0, with.size() - k.opening.size())) << k.name << ", conversation " << c;
    }
  }
  Result<std::string> chatml = apply_chat_template("chatml", {{"user", "Hi"}}, false);
  ASSERT_TRUE(chatml.ok());
  EXPECT_EQ(*chatml, "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplate, RefusesUnknownNamesRolesAndEmptyConversations) {
  Result<std::string> name = apply_chat_template("alpaca", kConversations[0], true);
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(name.status().message().find("unknown chat template 'alpaca'"), std::string::npos)
      << name.status().message();
  EXPECT_NE(name.status().message().find("chatml, llama2"), std::string::npos) << name.status().message();

  Result<std::string> keyed = apply_chat_template("chatml:x=1", kConversations[0], true);
  EXPECT_EQ(keyed.status().code(), StatusCode::kInvalidArgument);

  Result<std::string> role = apply_chat_template("chatml", {{"user", "Hi"}, {"tool", "42"}}, true);
  ASSERT_FALSE(role.ok());
  EXPECT_EQ(role.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(role.status().message().find("message 1 has role 'tool'"), std::string::npos) << role.status().message();

  Result<std::string> empty = apply_chat_template("llama3", {}, true);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("no messages"), std::string::npos) << empty.status().message();
}

// Excerpts of the families' published Jinja templates: the part that carries
// each family's markers, as a GGUF's tokenizer.chat_template holds them.
TEST(ChatTemplate, DetectsFamiliesFromTheirJinja) {
  const std::pair<const char*, const char*> cases[] = {
      // Qwen2.5-Instruct
      {"{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + "
       "'\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
       "chatml"},
      // Meta-Llama-3-8B-Instruct
      {"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | "
       "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}",
       "llama3"},
      // Llama-2-chat
      {"{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
       "'\\n<</SYS>>\\n\\n' + message['content'] %}{% endif %}{{ bos_token + '[INST] ' + content + ' [/INST]' }}",
       "llama2-sys-bos"},
      {"{{ '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' }}{{ '[INST] ' + content + ' [/INST]' }}", "llama2-sys"},
      {"{{ '[INST] ' + message['content'].strip() + ' [/INST]' }}{{ '<<SYS>>' + content.strip() }}",
       "llama2-sys-strip"},
      // Mistral-7B-Instruct-v0.2: no system prompt
      {"{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}", "llama2"},
      // Mistral's official v1, v3, v3-tekken and v7 templates
      {"{{ ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}", "mistral-v1"},
      {"{{- '[AVAILABLE_TOOLS] [' }}{{- '[INST] ' + message['content'] + '[/INST]' }}", "mistral-v3"},
      {"{{- \"[AVAILABLE_TOOLS][\" }}{{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}", "mistral-v3-tekken"},
      {"{{- '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{{- '[INST] ' + message['content'] }}",
       "mistral-v7"},
      // phi-4, gemma-2-it, zephyr
      {"{{'<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>'}}", "phi4"},
      {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}", "gemma"},
      {"{{ '<|user|>\\n' + message['content'] + eos_token }}{# eos_token is <|endoftext|> #}", "zephyr"},
      // deepseek-coder-33b-instruct, DeepSeek-V2-Chat, DeepSeek-V3
      {"{{'### Instruction:\\n' + message['content'] + '\\n'}}{{'### Response:\\n' + message['content'] + "
       "'\\n<|EOT|>\\n'}}",
       "deepseek"},
      {"{{ 'User: ' + message['content'] + '\\n\\n' }}{{ 'Assistant: ' + message['content'] + eos_token }}",
       "deepseek2"},
      {"{{'<\xEF\xBD\x9C"
       "User\xEF\xBD\x9C>' + message['content']}}{{'<\xEF\xBD\x9C"
       "Assistant\xEF\xBD\x9C>' + "
       "content + '<\xEF\xBD\x9C"
       "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>'}}",
       "deepseek3"},
      {"{{ 'GPT4 Correct ' + message['role'].title() + ': ' + message['content'] + '<|end_of_turn|>'}}", "openchat"},
      {"gemma", "gemma"},  // a name given as the template is that template
  };
  for (const auto& [text, family] : cases) {
    Result<std::string> got = detect_chat_template(text);
    ASSERT_TRUE(got.ok()) << family << ": " << got.status().to_string();
    EXPECT_EQ(*got, family) << text;
  }
}

TEST(ChatTemplate, DetectsPhi3FromTheGgufItShipsIn) {
  Result<Vocab> vocab = read_gguf_vocab(shared("peer-tests/tokenizers/ggml-vocab-phi-3.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.status().to_string();
  EXPECT_TRUE(vocab->chat_template.starts_with("{{ bos_token }}{% for message in messages %}")) << vocab->chat_template;
  EXPECT_EQ(vocab->chat_template.size(), 269u);
  Result<std::string> family = detect_chat_template(vocab->chat_template);
  ASSERT_TRUE(family.ok()) << family.status().to_string();
  EXPECT_EQ(*family, "phi3");
  Result<std::string> prompt = apply_chat_template(*family, {{"user", "Hi"}}, true);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(*prompt, "<|user|>\nHi<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, GgufWriterKeepsTheTemplate) {
  Result<Vocab> phi3 = read_gguf_vocab(shared("peer-tests/tokenizers/ggml-vocab-phi-3.gguf"));
  ASSERT_TRUE(phi3.ok()) << phi3.status().to_string();
  GgufWriter writer;
  writer.add_vocab(*phi3);
  const std::vector<uint8_t> bytes = writer.serialize();
  Result<Vocab> back = parse_gguf_vocab(bytes.data(), bytes.size(), "written");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->chat_template, phi3->chat_template);
}

TEST(ChatTemplate, AVocabularyWithoutATemplateHasNone) {
  Result<Vocab> vocab = read_gguf_vocab(shared("peer-tests/tokenizers/ggml-vocab-qwen2.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.status().to_string();
  EXPECT_EQ(vocab->chat_template, "");
  Result<std::string> family = detect_chat_template(vocab->chat_template);
  ASSERT_FALSE(family.ok());
  EXPECT_EQ(family.status().code(), StatusCode::kNotFound);
  EXPECT_NE(family.status().message().find("no tokenizer.chat_template"), std::string::npos);
  EXPECT_NE(family.status().message().find("--chat-template NAME"), std::string::npos);
}

TEST(ChatTemplate, UnknownTemplatesAreRefusedNotGuessed) {
  Result<std::string> unknown =
      detect_chat_template("{% for m in messages %}<<{{ m.role }}>> {{ m.content }}{% endfor %}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  const std::string& msg = unknown.status().message();
  EXPECT_NE(msg.find("unknown template"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--chat-template NAME (valid: chatml, llama2"), std::string::npos) << msg;

  // command-r comes before llama3 in llama.cpp's checks; a family kvforge does
  // not render must not fall through to a later marker.
  Result<std::string> command_r = detect_chat_template(
      "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{{ content }}<|END_OF_TURN_TOKEN|><|start_header_id|><|end_header_id|>");
  ASSERT_FALSE(command_r.ok());
  EXPECT_EQ(command_r.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(command_r.status().message().find("'command-r'"), std::string::npos) << command_r.status().message();
}

}  // namespace
}  // namespace kvforge::model

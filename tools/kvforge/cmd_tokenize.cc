// kvforge tokenize: the token ids (and pieces) a model's vocabulary gives a
// text, as llama.cpp's llama-tokenize prints them. A GGUF --model may be a
// vocabulary-only file such as llama.cpp's ggml-vocab-*.gguf; only its
// metadata is read.
#include <cstdio>
#include <cstring>
#include <iostream>

#include "common.h"
#include "kvforge/core/file_io.h"
#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/tokenizer.h"

namespace kvforge::cli {
namespace {

bool is_gguf(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[4] = {};
  const bool ok = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
  std::fclose(f);
  return ok;
}

Result<model::Tokenizer> load_tokenizer(const ModelFlags& flags) {
  if (flags.tokenizer.empty() && is_gguf(flags.model)) {
    KVF_ASSIGN_OR_RETURN(model::Vocab vocab, model::read_gguf_vocab(flags.model));
    return model::Tokenizer::create(std::move(vocab));
  }
  KVF_ASSIGN_OR_RETURN(auto m, load_model(flags, /*require_tokenizer=*/true));
  return *m->tokenizer();
}

// A piece as a table shows it: valid UTF-8 kept, control characters and bytes
// of partial or invalid UTF-8 (a BPE piece may hold half a character) escaped.
std::string printable(const std::string& piece) {
  std::string out;
  char buf[8];
  for (size_t i = 0; i < piece.size();) {
    const auto c = static_cast<unsigned char>(piece[i]);
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool whole = len > 0 && i + len <= piece.size();
    for (size_t k = 1; whole && k < len; ++k) whole = (static_cast<unsigned char>(piece[i + k]) & 0xC0) == 0x80;
    if (whole && len > 1) {
      out.append(piece, i, len);
      i += len;
      continue;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

}  // namespace

Runner register_tokenize(CLI::App& app) {
  struct Args {
    ModelFlags model;
    std::string text_file, prompt, json;
    bool ids_only = false, special = false, no_bos = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("tokenize", "Show the token ids and pieces a model's vocabulary gives a text");
  add_model_flags(cmd, &a->model, /*optional=*/false, ModelUse::kFileOnly);
  auto* text = cmd->add_option("--text", a->text_file, "File whose whole content is the text");
  auto* prompt = cmd->add_option("--prompt,-p", a->prompt, "The text itself");
  text->excludes(prompt);
  prompt->excludes(text);
  cmd->add_flag("--ids-only", a->ids_only, "Print one id per line, nothing else");
  cmd->add_flag("--special", a->special, "Parse control tokens written in the text (<|eot_id|>, <s>, ...)");
  cmd->add_flag("--no-bos", a->no_bos, "Add no BOS/EOS, even where the vocabulary asks for them");
  add_json_flag(cmd, &a->json);
  return [a, text, prompt]() {
    if (text->count() == 0 && prompt->count() == 0) {
      return fail(Status::InvalidArgument("tokenize: give the text with --text FILE or --prompt TEXT"));
    }
    std::string input = a->prompt;
    if (text->count() != 0) {
      auto file = core::read_file(a->text_file);
      if (!file.ok()) return fail(file.status());
      input = std::move(*file);
    }
    auto tok = load_tokenizer(a->model);
    if (!tok.ok()) return fail(tok.status());
    const std::vector<int32_t> ids = tok->encode(input, /*add_special=*/!a->no_bos, a->special);
    if (a->ids_only) {
      std::string out;
      for (int32_t id : ids) out += std::to_string(id) + "\n";
      std::fwrite(out.data(), 1, out.size(), stdout);
      return 0;
    }
    eval::Table table({"index", "id", "piece"});
    int32_t prev = tok->bos();
    for (size_t i = 0; i < ids.size(); ++i) {
      // Control tokens decode to nothing; show their name instead.
      const std::string piece = tok->is_control(ids[i]) ? tok->vocab().tokens[static_cast<size_t>(ids[i])]
                                                        : tok->decode_piece(i == 0 ? prev : ids[i - 1], ids[i]);
      table.add({{"index", static_cast<int64_t>(i)}, {"id", ids[i]}, {"piece", printable(piece)}});
    }
    const int rc = emit(table, a->json);
    std::cout << ids.size() << " tokens (" << tok->vocab().model << ", " << tok->vocab_size() << " in vocabulary)\n";
    return rc;
  };
}

}  // namespace kvforge::cli

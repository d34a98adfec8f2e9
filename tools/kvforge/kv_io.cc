#include "kv_io.h"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <sstream>

#include "kvforge/core/file_io.h"

namespace kvforge::cli {

Result<std::vector<int32_t>> context_tokens(const model::LlamaModel& model, const std::string& text_path) {
  KVF_ASSIGN_OR_RETURN(const std::string text, core::read_file(text_path));
  std::vector<int32_t> tokens = model.tokenizer()->encode(text, /*add_special=*/true);
  const size_t ctx = static_cast<size_t>(model.config().context_length);
  if (tokens.size() > ctx) {
    std::cerr << "kvforge: the text has " << tokens.size() << " tokens; keeping the first " << ctx
              << " (the model's context length)\n";
    tokens.resize(ctx);
  }
  return tokens;
}

Result<kv::DenseKvF32> prefill_and_export(std::shared_ptr<const model::LlamaModel> model,
                                          const std::vector<int32_t>& tokens, const model::SessionOptions& options) {
  model::Session session(model, options);
  KVF_RETURN_IF_ERROR(session.forward(tokens, model::LogitsMode::kNone, nullptr));
  kv::DenseKvF32 dense;
  KVF_RETURN_IF_ERROR(session.cache().export_range(0, tokens.size(), &dense));
  return dense;
}

std::vector<std::string> codec_specs(const std::string& codecs) {
  std::vector<std::string> specs;
  if (codecs == "all") {
    for (const auto& name : codec::codec_names()) {
      if (name == "cachegen") {
        for (const auto& l : codec::levels(name)) {
          specs.push_back(name + ":level=" + l);
          specs.push_back(name + ":level=" + l + "+profile");
        }
      } else {
        specs.push_back(name);
      }
    }
  } else {
    std::stringstream ss(codecs);
    for (std::string s; std::getline(ss, s, ',');) specs.push_back(s);
  }
  return specs;
}

std::pair<std::string, bool> split_profile_suffix(const std::string& spec) {
  constexpr std::string_view kSuffix = "+profile";
  if (spec.size() <= kSuffix.size() || !spec.ends_with(kSuffix)) return {spec, false};
  return {spec.substr(0, spec.size() - kSuffix.size()), true};
}

Result<std::vector<std::string_view>> split_frames(std::string_view bytes) {
  std::vector<std::string_view> frames;
  size_t offset = 0;
  while (offset < bytes.size()) {
    auto info = codec::peek_header(bytes.substr(offset));
    if (!info.ok()) return info.status().with_context("frame " + std::to_string(frames.size()) + " at byte " +
                                                      std::to_string(offset));
    if (info->frame_bytes == 0 || info->frame_bytes > bytes.size() - offset) {
      return Status::Corruption("frame " + std::to_string(frames.size()) + " at byte " + std::to_string(offset) +
                                " declares " + std::to_string(info->frame_bytes) + " bytes but only " +
                                std::to_string(bytes.size() - offset) + " remain (truncated file?)");
    }
    frames.push_back(bytes.substr(offset, info->frame_bytes));
    offset += info->frame_bytes;
  }
  if (frames.empty()) return Status::Corruption("the file holds no frame");
  return frames;
}

}  // namespace kvforge::cli

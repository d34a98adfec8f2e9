// Getting a context's KV cache for the codec commands: prefill a text with a
// model and export it, name codecs by a --codecs list, and read/write .kvf
// files (frames back to back).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/kv/kv_cache.h"
#include "kvforge/model/llama.h"

namespace kvforge::cli {

// The token ids of a text file as one context: BOS first, cut to the model's
// context length (saying so on stderr).
Result<std::vector<int32_t>> context_tokens(const model::LlamaModel& model, const std::string& text_path);

// Prefills `tokens` in a fresh session (of `session`'s threads and KV type) and
// exports the whole cache as fp32 (an F16 cache's values widened exactly).
Result<kv::DenseKvF32> prefill_and_export(std::shared_ptr<const model::LlamaModel> model,
                                          const std::vector<int32_t>& tokens, const model::SessionOptions& session);

// The specs a --codecs list names: comma-separated, or 'all' (every codec, and
// every cachegen level with and without the learned profile, "+profile").
std::vector<std::string> codec_specs(const std::string& codecs);
// A spec of such a list without its "+profile" suffix, and whether it had one.
std::pair<std::string, bool> split_profile_suffix(const std::string& spec);

// Splits a .kvf file's bytes into its frames (each frame's header gives its size).
Result<std::vector<std::string_view>> split_frames(std::string_view bytes);

}  // namespace kvforge::cli

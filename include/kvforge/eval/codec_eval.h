// KV codecs scored on real text: for each document, prefill the first part,
// export its KV, encode and decode it, import the decoded KV into a fresh
// session, and teacher-force the rest; the reference is the full-precision run
// on the same tokens. Sizes count every byte of every frame.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kvforge/codec/codec.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/progress.h"
#include "kvforge/eval/metrics.h"
#include "kvforge/eval/perplexity.h"

namespace kvforge::eval {

struct CodecEvalOptions {
  double prefix_fraction = 0.5;          // share of each document that is encoded
  const codec::Profile* profile = nullptr;  // for specs ending in "+profile"
  RunOptions run;                        // workers, KV type, progress
};

struct CodecEvalRow {
  std::string spec;      // as make_codec accepts it
  std::string codec;
  std::string level;
  bool profile = false;  // encoded with the model profile
  size_t prefix_tokens = 0;     // tokens encoded, summed over documents
  size_t frame_bytes = 0;       // bytes of all frames
  size_t fp16_bytes = 0;        // the same KV as raw fp16 (K and V)
  double encode_seconds = 0;    // summed over documents (single-threaded calls)
  double decode_seconds = 0;
  FidelityResult fidelity;

  double bytes_per_token() const { return prefix_tokens ? double(frame_bytes) / double(prefix_tokens) : 0; }
  double ratio_vs_fp16() const { return frame_bytes ? double(fp16_bytes) / double(frame_bytes) : 0; }
  double encode_mbps() const { return encode_seconds > 0 ? double(fp16_bytes) / encode_seconds / 1e6 : 0; }
  double decode_mbps() const { return decode_seconds > 0 ? double(fp16_bytes) / decode_seconds / 1e6 : 0; }
};

// One row per spec, in order. A spec ending in "+profile" (e.g.
// "cachegen:level=3+profile") codes with options.profile instead of tables
// shipped in each frame. Documents need at least 3 tokens.
Result<std::vector<CodecEvalRow>> evaluate_codecs(std::shared_ptr<const model::LlamaModel> model,
                                                  const std::vector<std::vector<int32_t>>& documents,
                                                  const std::vector<std::string>& specs,
                                                  const CodecEvalOptions& options);

// A model's codec profile from sample documents: each is prefilled from position 0
// with kv::QueryMoments watching the queries, and its KV exported; the profile
// codes keys before RoPE (the model's rope_theta) weighted by those moments.
// Value channels are weighted by the output-projection columns they feed. The
// session (threads, KV type) is built from `session`. block: the basis block
// (codec::LearnOptions::block; 0 = default). progress may be null.
Result<codec::Profile> learn_model_profile(std::shared_ptr<const model::LlamaModel> model,
                                           const std::vector<std::vector<int32_t>>& documents,
                                           const model::SessionOptions& session, core::Progress* progress,
                                           int block = 0);


}  // namespace kvforge::eval

// A cheap check at load that a fetched chunk's KV is the KV of its own token
// ids. Checksums only prove the bytes are what the client stored: a client can
// store text Y's KV under text X's key and token ids, and a load of X would
// then continue Y's story. Layer 0's keys depend only on each token and its
// position (RoPE(W_k · RMSNorm(embedding)), plus bias or head norm where the
// architecture has them), so the session recomputes them for a fraction of one
// layer's cost (kv::Recompute::layer0_keys) and compares them with the decoded
// chunk's. The distance is measured against what another token's key at the
// same position is (keys share a large token-independent part, so relative to
// the keys' own norm another text is off by only ~0.5 on stories260K, ~1.4 on
// random weights): in those units the tokens' own KV is off by its codec's
// error and another text's by ~1, on any model. Tolerances per codec level,
// with the errors measured, are in docs/STREAM.md ("Content check").
//
// What it does not catch: KV whose layer 0 is honest and whose deeper layers
// are not (a crafted lie), and a few wrong tokens in an otherwise right chunk
// (the error is over the whole chunk, so they are diluted).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "kvforge/codec/codec.h"
#include "kvforge/core/status.h"
#include "kvforge/kv/recompute.h"

namespace kvforge::stream {

// The largest content_error (below) that a frame of `codec` at `level` (as
// codec::FrameInfo names them) may show and still be its tokens' KV: its
// measured error on honest chunks, with margin. An unknown codec gets the
// loosest.
double content_tolerance(std::string_view codec, std::string_view level);

// The content error of layer-0 keys `keys` ([kv_head][token][head_dim], the
// session's kv heads and head_dim) claimed for `tokens` at first_position,
// first_position + 1, ...: the RMS over tokens of |keys - own keys|, divided by
// the RMS of |another token's key - own key| at the same positions (sampled on
// up to 32 tokens of the chunk, each against one from the chunk's other half).
// About 1 for another text's keys; NaN when a key is not finite. Where the
// chunk has no two distinct tokens it falls back to |keys - own keys| / |own keys|.
Result<double> content_error(kv::Recompute& session, std::span<const int32_t> tokens, int32_t first_position,
                             std::span<const float> keys);

struct ContentCheck {
  bool ran = false;       // false: the session failed before keys were compared
  bool mismatch = false;  // the chunk is not its tokens' KV (non-finite keys included)
  double error = 0;       // content_error of the chunk's layer-0 keys
  double tolerance = 0;
  double seconds = 0;  // recomputing layer 0's keys and comparing (wall clock)
};

// Compares layer 0's keys of `chunk` (decoded from a frame `info` describes)
// with those `session` computes for `tokens` at first_position, first_position
// + 1, ... Corruption naming the error and the tolerance on a mismatch; the
// session's error when it cannot compute the keys. `result` (optional) is
// filled either way.
Status check_content(kv::Recompute& session, std::span<const int32_t> tokens, int32_t first_position,
                     const codec::FrameInfo& info, const codec::KvChunk& chunk, ContentCheck* result = nullptr);

}  // namespace kvforge::stream

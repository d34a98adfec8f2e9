// Logits exchanged with llama.cpp's llama-logits tool: PREFIX.ids (token ids on
// one line, space-separated) and PREFIX.logits (float32 little-endian,
// n_tokens x n_vocab, row-major, every position of one forward pass), and the
// agreement of two such logit sets.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::eval {

// Token ids separated by any whitespace. InvalidArgument names the first
// token that is not a non-negative integer.
Result<std::vector<int32_t>> parse_ids(const std::string& text, const std::string& what);
Result<std::vector<int32_t>> read_ids_file(const std::string& path);

// Reads n_tokens x n_vocab floats; Corruption when the size does not match.
Result<std::vector<float>> read_logits_file(const std::string& path, size_t n_tokens, size_t n_vocab);

// Writes PREFIX.ids and PREFIX.logits, each atomically.
Status write_logits_files(const std::string& prefix, std::span<const int32_t> ids, std::span<const float> logits);

struct LogitAgreement {
  int64_t tokens = 0;
  double kl = 0;              // mean KL(reference || test) over positions, nats
  double max_kl = 0;          // worst position
  double top1_agreement = 0;  // fraction of positions with the same argmax
  double max_abs_diff = 0;    // largest |reference - test| over every logit
};

// Both are n_tokens x n_vocab; `reference` is p in KL(p || q).
LogitAgreement compare_logits(std::span<const float> reference, std::span<const float> test, size_t n_vocab);

}  // namespace kvforge::eval

#include "kvforge/stream/content_check.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace kvforge::stream {

namespace {

// Per codec (and cachegen level): about twice the largest error measured on
// honest chunks (stories260K on TinyStories, synthetic models up to TinyLlama's
// shape) and at most half the 0.87-1.03 of another text's keys; kivi2, whose
// 2-bit keys are off by a third of another text's distance, 1.55x each way.
// Frames coded with a model profile measured within the same bounds.
// docs/STREAM.md has the measurements.
struct Tolerance {
  std::string_view codec;
  std::string_view level;  // "" : every level
  double tolerance;
};

constexpr Tolerance kTolerances[] = {
    {"fp16", "", 0.01},      {"zstd", "", 0.01},        {"q8", "", 0.05},       {"q4", "", 0.42},
    {"kivi2", "", 0.55},     {"cachegen-ref", "", 0.3}, {"cachegen", "1", 0.1}, {"cachegen", "2", 0.15},
    {"cachegen", "3", 0.25}, {"cachegen", "4", 0.3},    {"cachegen", "5", 0.4},
};

// What a codec this table does not know gets: the loosest entry, so that a
// new codec never turns honest chunks into recomputes.
constexpr double kLoosest = 0.55;

// Tokens whose keys give the distance between keys of different tokens.
constexpr size_t kSampleTokens = 32;

// Sum over the first m tokens of every kv head of |a - b|^2, where a and b are
// [kv_head][token][head_dim] with na and nb tokens.
double squared_distance(const float* a, size_t na, const float* b, size_t nb, size_t heads, size_t m, size_t hd) {
  double sum = 0;
  for (size_t h = 0; h < heads; ++h) {
    const float* x = a + h * na * hd;
    const float* y = b + h * nb * hd;
    for (size_t i = 0; i < m * hd; ++i) {
      const double d = static_cast<double>(x[i]) - y[i];
      sum += d * d;
    }
  }
  return sum;
}

}  // namespace

double content_tolerance(std::string_view codec, std::string_view level) {
  for (const Tolerance& t : kTolerances) {
    if (t.codec == codec && (t.level.empty() || t.level == level)) return t.tolerance;
  }
  return kLoosest;
}

Result<double> content_error(kv::Recompute& session, std::span<const int32_t> tokens, int32_t first_position,
                             std::span<const float> keys) {
  const kv::KvShape& shape = session.cache().shape();
  const size_t n = tokens.size(), heads = static_cast<size_t>(shape.n_kv_heads);
  const size_t hd = static_cast<size_t>(shape.head_dim);
  if (n == 0 || keys.size() != heads * n * hd) {
    return Status::InvalidArgument("content check: " + std::to_string(keys.size()) + " key values for " +
                                   std::to_string(n) + " tokens of " + std::to_string(heads) + " kv heads x " +
                                   std::to_string(hd));
  }
  // Per call: a 256-token chunk of a 1B-class model is 256 KiB, nothing beside its decode.
  std::vector<float> own(heads * n * hd);
  KVF_RETURN_IF_ERROR(session.layer0_keys(tokens, first_position, own.data()));
  const double off = squared_distance(keys.data(), n, own.data(), n, heads, n, hd) / static_cast<double>(n);
  // Another token at the same position (the chunk's other half), so that the
  // token-independent part of the keys cancels as it does for another text.
  const size_t m = std::min(n, kSampleTokens);
  std::vector<int32_t> others(m);
  for (size_t t = 0; t < m; ++t) others[t] = tokens[(t + n / 2) % n];
  std::vector<float> other(heads * m * hd);
  KVF_RETURN_IF_ERROR(session.layer0_keys(others, first_position, other.data()));
  const double apart = squared_distance(other.data(), m, own.data(), n, heads, m, hd) / static_cast<double>(m);
  if (apart > 0) return std::sqrt(off / apart);
  double norm = 0;  // one token repeated: no distance to measure against
  for (float x : own) norm += static_cast<double>(x) * x;
  norm /= static_cast<double>(n);
  if (norm > 0) return std::sqrt(off / norm);
  return off == 0 ? 0.0 : std::numeric_limits<double>::infinity();
}

Status check_content(kv::Recompute& session, std::span<const int32_t> tokens, int32_t first_position,
                     const codec::FrameInfo& info, const codec::KvChunk& chunk, ContentCheck* result) {
  const auto t0 = std::chrono::steady_clock::now();
  ContentCheck local;
  ContentCheck& check = result ? *result : local;
  check = ContentCheck{};
  check.tolerance = content_tolerance(info.codec, info.level);
  if (chunk.n_tokens != tokens.size() || !(chunk.shape == session.cache().shape()) ||
      chunk.k.size() < chunk.elements()) {
    return Status::InvalidArgument("content check: a chunk of " + std::to_string(chunk.n_tokens) + " tokens for " +
                                   std::to_string(tokens.size()) + " token ids, or not of the model's shape");
  }
  // Layer 0 leads the layout ([layer][kv_head][token][head_dim]): its keys are the first values.
  const size_t n = static_cast<size_t>(chunk.shape.n_kv_heads) * chunk.n_tokens * chunk.shape.head_dim;
  KVF_ASSIGN_OR_RETURN(check.error, content_error(session, tokens, first_position, std::span(chunk.k).first(n)));
  check.ran = true;
  check.mismatch = !(check.error <= check.tolerance);  // NaN too
  check.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!check.mismatch) return Status::OK();
  const std::string what = !std::isfinite(check.error)
                               ? "layer 0's keys are not finite"
                               : "layer 0's keys are " + std::to_string(check.error) +
                                     " of another token's distance from the chunk's tokens' own";
  return Status::Corruption("content mismatch: " + what + ", over the " + info.spec + " tolerance " +
                            std::to_string(check.tolerance) + " (KV of another text?)");
}

}  // namespace kvforge::stream

#include "kvforge/eval/logit_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <sstream>

#include "kvforge/core/file_io.h"

namespace kvforge::eval {

namespace {

// log-softmax of one row, in double so KL of near-equal rows is not noise.
void log_softmax(std::span<const float> row, std::vector<double>* out) {
  out->resize(row.size());
  const float mx = *std::max_element(row.begin(), row.end());
  double sum = 0;
  for (float v : row) sum += std::exp(static_cast<double>(v) - mx);
  const double lse = mx + std::log(sum);
  for (size_t i = 0; i < row.size(); ++i) (*out)[i] = row[i] - lse;
}

size_t argmax(std::span<const float> row) {
  return static_cast<size_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

}  // namespace

Result<std::vector<int32_t>> parse_ids(const std::string& text, const std::string& what) {
  std::istringstream in(text);
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(word.c_str(), &end, 10);
    if (end == word.c_str() || *end != '\0' || errno != 0 || v < 0 || v > INT32_MAX) {
      return Status::InvalidArgument(what + ": '" + word + "' (token " + std::to_string(ids.size()) +
                                     ") is not a token id");
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

Result<std::vector<int32_t>> read_ids_file(const std::string& path) {
  KVF_ASSIGN_OR_RETURN(std::string text, core::read_file(path));
  return parse_ids(text, path);
}

Result<std::vector<float>> read_logits_file(const std::string& path, size_t n_tokens, size_t n_vocab) {
  KVF_ASSIGN_OR_RETURN(std::string bytes, core::read_file(path));
  const size_t want = n_tokens * n_vocab * sizeof(float);
  if (bytes.size() != want) {
    return Status::Corruption(path + ": holds " + std::to_string(bytes.size()) + " bytes, expected " +
                              std::to_string(want) + " (" + std::to_string(n_tokens) + " tokens x " +
                              std::to_string(n_vocab) + " float32 logits)");
  }
  std::vector<float> logits(n_tokens * n_vocab);
  std::memcpy(logits.data(), bytes.data(), want);  // host is little-endian, as the format
  return logits;
}

Status write_logits_files(const std::string& prefix, std::span<const int32_t> ids, std::span<const float> logits) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) line += ' ';
    line += std::to_string(ids[i]);
  }
  line += "\n";
  KVF_RETURN_IF_ERROR(core::write_file_atomic(prefix + ".ids", line));
  return core::write_file_atomic(
      prefix + ".logits",
      std::string_view(reinterpret_cast<const char*>(logits.data()), logits.size() * sizeof(float)));
}

LogitAgreement compare_logits(std::span<const float> reference, std::span<const float> test, size_t n_vocab) {
  LogitAgreement a;
  if (n_vocab == 0 || reference.size() != test.size()) return a;
  const size_t n = reference.size() / n_vocab;
  std::vector<double> lp, lq;
  double kl_sum = 0;
  int64_t agree = 0;
  for (size_t t = 0; t < n; ++t) {
    const auto p = reference.subspan(t * n_vocab, n_vocab);
    const auto q = test.subspan(t * n_vocab, n_vocab);
    log_softmax(p, &lp);
    log_softmax(q, &lq);
    double kl = 0;
    for (size_t i = 0; i < n_vocab; ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
    kl_sum += kl;
    a.max_kl = std::max(a.max_kl, kl);
    agree += argmax(p) == argmax(q);
    for (size_t i = 0; i < n_vocab; ++i) {
      a.max_abs_diff = std::max(a.max_abs_diff, std::fabs(static_cast<double>(p[i]) - q[i]));
    }
  }
  a.tokens = static_cast<int64_t>(n);
  a.kl = n ? kl_sum / static_cast<double>(n) : 0;
  a.top1_agreement = n ? static_cast<double>(agree) / static_cast<double>(n) : 0;
  return a;
}

}  // namespace kvforge::eval

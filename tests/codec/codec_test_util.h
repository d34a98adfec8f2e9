// Helpers shared by the codec tests: option builders and the list of specs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kvforge/codec/codec.h"

namespace kvforge::codec::testdata {

// Option builders (designated initializers that skip members trip -Wextra).
inline EncodeOptions eo(uint64_t fp = 0, core::ThreadPool* pool = nullptr, const Profile* prof = nullptr) {
  EncodeOptions o;
  o.model_fingerprint = fp;
  o.pool = pool;
  o.profile = prof;
  return o;
}
inline DecodeOptions dopt(std::optional<uint64_t> fp = std::nullopt, core::ThreadPool* pool = nullptr,
                          const Profile* prof = nullptr) {
  DecodeOptions o;
  o.expected_fingerprint = fp;
  o.pool = pool;
  o.profile = prof;
  return o;
}

// Every codec at every level, plus the parameters worth a case of their own.
inline std::vector<std::string> all_specs() {
  std::vector<std::string> out;
  for (const auto& n : codec_names()) {
    const auto lv = levels(n);
    if (lv.empty()) {
      out.push_back(n);
    } else {
      for (const auto& l : lv) out.push_back(n + ":level=" + l);
    }
  }
  out.push_back("kivi2:residual=32");
  out.push_back("kivi2:residual=5");
  out.push_back("cachegen:level=3,delta=on");
  out.push_back("cachegen:level=1,delta=on");
  out.push_back("cachegen:level=5,delta=off");
  return out;
}

// A spec as a file or test name: ':', '=', ',' and '-' become '_'.
inline std::string spec_name(std::string spec, bool keep_dash = true) {
  for (char& ch : spec)
    if (ch == ':' || ch == '=' || ch == ',' || (!keep_dash && ch == '-')) ch = '_';
  return spec;
}

}  // namespace kvforge::codec::testdata

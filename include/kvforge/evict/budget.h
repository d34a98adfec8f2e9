// A KV budget: a fraction of the tokens to keep ("0.2", "20%") or an absolute
// number of slots per kv head ("128"). Fractions are of a reference length the
// caller knows (the prompt in the prefill setting, the whole sequence when
// decoding); counts ignore it.
#pragma once

#include <cstddef>
#include <string>

#include "kvforge/core/status.h"

namespace kvforge::evict {

class Budget {
 public:
  // InvalidArgument for a fraction <= 0 or > 1, a count < 1, or text that is
  // neither (the message says which forms are accepted).
  static Result<Budget> parse(const std::string& text);
  static Result<Budget> fraction(double f);
  static Result<Budget> count(size_t slots);

  bool is_fraction() const { return is_fraction_; }
  double value() const { return value_; }
  // Slots to keep per kv head for a sequence of `reference_tokens` (at least 1).
  size_t slots(size_t reference_tokens) const;
  // "0.2" / "128": the form it was given in, for tables and JSON.
  std::string to_string() const;

 private:
  Budget(bool is_fraction, double value) : is_fraction_(is_fraction), value_(value) {}
  bool is_fraction_ = true;
  double value_ = 1.0;
};

}  // namespace kvforge::evict

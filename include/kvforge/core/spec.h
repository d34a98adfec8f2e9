// One grammar for everything chosen by name: "NAME" or
// "NAME:key=value,key=value".
//
// Codecs ("cachegen:level=2"), eviction policies ("roco:stride=8"), bandwidth
// traces ("step:mbps=800"), retrieval settings ("0.2:m=4,bits=6") and store URL
// parameters ("redis://h:6379?prefix=a") are all read through `Spec`, so the
// same mistake gets the same answer everywhere:
//   - a key given twice                 -> InvalidArgument "... 'k' given
//   twice"
//   - a key no reader asked for         -> InvalidArgument "... has no key 'k'
//   (valid: a, b)"
//   - "NAME:V", a bare value            -> the value of the entry's positional
//   key
//                                          ("cachegen:2" = "cachegen:level=2");
//                                          an error where the entry has none
//   - a value of the wrong kind or range -> InvalidArgument naming key, value
//   and range
// Every message starts with "<what> '<text>': ", e.g. "codec
// 'cachegen:level=9': ...".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::core {

class Spec {
 public:
  // Parses "NAME[:item,item,...]", items "key=value" or (at most one) a bare
  // value for `positional_key`. `what` names the kind of thing in errors
  // ("codec").
  static Result<Spec> parse(std::string_view text, std::string_view what, std::string_view positional_key = "");

  // Builds a spec from already split pairs (a URL's query string); duplicates
  // are rejected here as parse() rejects them.
  static Result<Spec> from_pairs(std::string_view text, std::string_view what, std::string name,
                                 const std::vector<std::pair<std::string, std::string>>& pairs);

  const std::string& name() const { return name_; }
  const std::string& text() const { return text_; }
  bool has(const std::string& key) const { return values_.count(key) != 0; }

  // Typed readers. Each marks `key` as known, returns `def` when it is absent
  // and InvalidArgument when its value is malformed or outside [min, max].
  Result<int64_t> get_int(const std::string& key, int64_t def, int64_t min, int64_t max);
  Result<double> get_double(const std::string& key, double def, double min, double max);
  Result<std::string> get_choice(const std::string& key, const std::string& def,
                                 const std::vector<std::string>& choices);
  // A byte count: digits with an optional k, m or g suffix (powers of 1024).
  Result<uint64_t> get_bytes(const std::string& key, uint64_t def);
  Result<std::string> get_string(const std::string& key, const std::string& def);

  // InvalidArgument for any key no reader asked for, listing the ones that
  // were.
  Status finish() const;

  // "<what> '<text>': <why>" as InvalidArgument.
  Status error(const std::string& why) const;

 private:
  Spec(std::string text, std::string what) : text_(std::move(text)), what_(std::move(what)) {}
  Status add(std::string key, std::string value);
  const std::string* find(const std::string& key);

  std::string text_, what_, name_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> known_;  // in the order the readers ran
};

// "'text'": how every error quotes what it was given. (Built by append: GCC 12
// misreads "'" + std::string as an overlapping copy under -Werror=restrict.)
std::string quote(std::string_view text);

// items with `separator` between them ("" for an empty list).
std::string join(const std::vector<std::string>& items, std::string_view separator);

// "a, b, c" ("(none)" for an empty list): how every error lists valid choices.
std::string join_names(const std::vector<std::string>& names);

}  // namespace kvforge::core

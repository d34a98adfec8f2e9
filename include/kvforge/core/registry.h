// A table of named factories, one per selectable interface (codecs, eviction
// policies, bandwidth traces, store backends), all parsing through core::Spec.
//
//   const Registry<std::unique_ptr<Policy>> kPolicies("policy", {
//       {.name = "roco", .make = make_roco},
//       {.name = "cachegen", .positional_key = "level", .make = ...}});
//   auto p = kPolicies.make("roco:stride=8");
//
// make() parses, finds the entry (an unknown name lists the valid ones), runs
// its factory, then rejects any key the factory did not read. FAISS's
// index_factory is the model: one small interface, many implementations built
// by name.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvforge/core/spec.h"
#include "kvforge/core/status.h"

namespace kvforge::core {

// Args: what a factory needs beyond the spec (a store backend, its URL's location).
template <typename T, typename... Args>
class Registry {
 public:
  struct Entry {
    std::string name;
    std::string positional_key = {};  // what "NAME:V" sets; empty: no shorthand
    Result<T> (*make)(Spec& spec, Args... args) = nullptr;
  };

  Registry(std::string what, std::vector<Entry> entries) : what_(std::move(what)), entries_(std::move(entries)) {}

  const std::string& what() const { return what_; }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Entry& e : entries_) out.push_back(e.name);
    return out;
  }

  const Entry* find(std::string_view name) const {
    for (const Entry& e : entries_) {
      if (e.name == name) return &e;
    }
    return nullptr;
  }

  // The spec's name must be an entry's: InvalidArgument listing them otherwise.
  Result<const Entry*> lookup(std::string_view text) const {
    const std::string name(text.substr(0, text.find(':')));
    const Entry* e = find(name);
    if (e == nullptr) {
      return Status::InvalidArgument(what_ + " '" + std::string(text) + "': unknown " + what_ + " '" + name +
                                     "' (valid: " + join_names(names()) + ")");
    }
    return e;
  }

  Result<Spec> parse(std::string_view text) const {
    KVF_ASSIGN_OR_RETURN(const Entry* e, lookup(text));
    return Spec::parse(text, what_, e->positional_key);
  }

  Result<T> make(std::string_view text, Args... args) const {
    KVF_ASSIGN_OR_RETURN(Spec spec, parse(text));
    return make(spec, args...);
  }

  // For specs built another way (Spec::from_pairs).
  Result<T> make(Spec& spec, Args... args) const {
    KVF_ASSIGN_OR_RETURN(const Entry* e, lookup(spec.text()));
    KVF_ASSIGN_OR_RETURN(T made, e->make(spec, args...));
    KVF_RETURN_IF_ERROR(spec.finish());
    return made;
  }

 private:
  std::string what_;
  std::vector<Entry> entries_;
};

}  // namespace kvforge::core

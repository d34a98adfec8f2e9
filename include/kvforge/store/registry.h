// Backends by URL, one registry (as codecs are made by spec):
//
//   file:///abs/dir[?capacity=64g]   file:DIR also works; the embedded default
//   mem://[?capacity=256m]           a private in-process store (tests, servers)
//
// `capacity` is a byte count (suffix k, m or g: powers of 1024); past it the least
// recently used chunks are evicted. file: 0 (the default) means unbounded;
// mem: the default is 1g. A `redis://host:port` backend will register here.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvforge/core/env.h"
#include "kvforge/store/backend.h"

namespace kvforge::store {

// InvalidArgument naming the URL for an unknown scheme (listing schemes()), a
// malformed URL or an unknown parameter; IOError when the medium cannot be opened.
// `env` (not owned, outliving the backend) gives the file backend its files and
// every backend its use-stamp clock; tests pass a fault-injecting one.
Result<std::unique_ptr<Backend>> open_backend(std::string_view url, core::Env* env = core::Env::Default());
// "file", "mem".
std::vector<std::string> backend_schemes();

}  // namespace kvforge::store

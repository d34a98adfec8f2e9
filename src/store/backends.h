// Constructors of the backends behind open_backend (registry.cc), one per scheme.
#pragma once

#include <memory>

#include "kvforge/store/backend.h"
#include "kvforge/core/spec.h"
#include "store/store_url.h"

namespace kvforge::store {

Result<std::unique_ptr<Backend>> open_mem_backend(core::Spec& params, const StoreUrl& url);
Result<std::unique_ptr<Backend>> open_file_backend(core::Spec& params, const StoreUrl& url);
// redis://host[:port][?prefix=P&capacity=N&timeout_ms=T]; IOError when the
// server cannot be reached.
Result<std::unique_ptr<Backend>> open_redis_backend(core::Spec& params, const StoreUrl& url);

}  // namespace kvforge::store

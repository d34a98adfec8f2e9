// Constructors of the backends behind open_backend (registry.cc), one per scheme.
#pragma once

#include <memory>

#include "kvforge/store/backend.h"
#include "store/store_url.h"

namespace kvforge::store {

Result<std::unique_ptr<Backend>> open_mem_backend(const StoreUrl& url);
Result<std::unique_ptr<Backend>> open_file_backend(const StoreUrl& url);

}  // namespace kvforge::store

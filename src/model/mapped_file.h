// Internal to the model readers: maps a file read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kvforge/core/status.h"

namespace kvforge::model::detail {

// `storage` keeps the bytes alive; an empty regular file yields size 0 and a
// null `data`. NotFound / IOError name the path.
Status map_file_readonly(const std::string& path, std::shared_ptr<const void>* storage, const uint8_t** data,
                         size_t* size);

}  // namespace kvforge::model::detail

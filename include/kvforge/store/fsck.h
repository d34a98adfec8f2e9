// Checking and repairing a whole store: after a crash, a disk error, or an
// outside deletion (Redis evicting keys under maxmemory).
#pragma once
#include "kvforge/store/backend.h"

namespace kvforge::store {

// Repairs the backend's bookkeeping (Backend::repair), then reads every listed
// chunk without counting a use and removes each one that fails verification
// (store::peek_chunk), counting them in damaged_removed. A backend that cannot
// list is repaired only.
Result<RepairReport> fsck(Backend& backend);

}  // namespace kvforge::store

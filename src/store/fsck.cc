#include "kvforge/store/fsck.h"

#include "kvforge/store/chunk_io.h"

namespace kvforge::store {

Result<RepairReport> fsck(Backend& backend) {
  KVF_ASSIGN_OR_RETURN(RepairReport report, backend.repair());
  auto entries = backend.list();
  if (!entries.ok()) return entries.status().is_not_supported() ? Result<RepairReport>(report) : entries.status();
  for (const EntryInfo& e : *entries) {
    auto chunk = peek_chunk(backend, e.key);
    if (chunk.ok() || chunk.status().is_not_found()) continue;  // sound, or removed meanwhile
    if (chunk.status().is_io_error()) return chunk.status();    // the medium, not the chunk
    Status removed = backend.remove(e.key);
    if (!removed.ok() && !removed.is_not_found()) return removed;
    ++report.damaged_removed;
  }
  if (report.damaged_removed > 0) {
    KVF_ASSIGN_OR_RETURN(const BackendStats s, backend.stats());
    report.blobs = s.entries;
    report.bytes_after = s.bytes;
  }
  return report;
}

}  // namespace kvforge::store

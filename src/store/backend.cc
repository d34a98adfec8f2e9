#include "kvforge/store/backend.h"

namespace kvforge::store {

Result<std::string> Backend::peek(const ChunkKey&) {
  return Status::NotSupported("store: " + url() + " cannot read a chunk without counting a use");
}

Result<std::vector<EntryInfo>> Backend::list() {
  return Status::NotSupported("store: " + url() + " cannot list its chunks");
}

Result<BackendStats> Backend::stats() { return Status::NotSupported("store: " + url() + " keeps no statistics"); }

Result<RepairReport> Backend::repair() {
  KVF_ASSIGN_OR_RETURN(const BackendStats s, stats());
  RepairReport r;
  r.blobs = s.entries;
  r.bytes_before = r.bytes_after = s.bytes;
  return r;
}

Result<size_t> Backend::longest_prefix(std::span<const ChunkKey> keys) {
  size_t n = 0;
  for (const ChunkKey& key : keys) {
    KVF_ASSIGN_OR_RETURN(const bool present, contains(key));
    if (!present) break;
    ++n;
  }
  return n;
}

}  // namespace kvforge::store

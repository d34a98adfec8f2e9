#include "fault_injection_env.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kvforge::testing {

namespace {
// Directories compared however the code under test spells them ("d/", "d//x").
std::string normal(const std::string& dir) {
  std::string s = std::filesystem::path(dir).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}
std::string normal_dir(const std::string& path) { return normal(core::dir_of(path)); }
}  // namespace

// A handle that reports to its Env, so appends count toward the budgets and
// sync() moves the node's durable size.
class FaultFile final : public core::WritableFile {
 public:
  FaultFile(FaultInjectionEnv* env, std::unique_ptr<core::WritableFile> base, std::shared_ptr<FaultInjectionEnv::Node> node,
            std::string path, uint64_t generation)
      : env_(env), base_(std::move(base)), node_(std::move(node)), path_(std::move(path)), generation_(generation) {}

  Status append(std::string_view data) override {
    std::lock_guard lock(env_->mu_);
    KVF_RETURN_IF_ERROR(check("write"));
    return env_->append_locked(*base_, *node_, path_, data);
  }

  Status sync() override {
    std::lock_guard lock(env_->mu_);
    KVF_RETURN_IF_ERROR(check("fsync"));
    if (env_->fail_sync_) return Status::IOError("cannot fsync " + path_ + ": injected fsync failure");
    KVF_RETURN_IF_ERROR(base_->sync());
    node_->synced = node_->written;
    return Status::OK();
  }

  Status close() override {
    std::lock_guard lock(env_->mu_);
    KVF_RETURN_IF_ERROR(check("close"));
    return base_->close();
  }

 private:
  Status check(const std::string& what) {
    if (generation_ != env_->generation_) return Status::IOError(what + " " + path_ + ": opened before the crash");
    return env_->begin_op(what, path_);
  }

  FaultInjectionEnv* env_;
  std::unique_ptr<core::WritableFile> base_;
  std::shared_ptr<FaultInjectionEnv::Node> node_;
  const std::string path_;
  const uint64_t generation_;
};

void FaultInjectionEnv::set_fail_sync(bool fail) {
  std::lock_guard lock(mu_);
  fail_sync_ = fail;
}
void FaultInjectionEnv::set_fail_dir_sync(bool fail) {
  std::lock_guard lock(mu_);
  fail_dir_sync_ = fail;
}
void FaultInjectionEnv::set_fail_rename(bool fail) {
  std::lock_guard lock(mu_);
  fail_rename_ = fail;
}
void FaultInjectionEnv::set_space_left(int64_t bytes) {
  std::lock_guard lock(mu_);
  space_left_ = bytes;
}
void FaultInjectionEnv::crash_after_bytes(int64_t bytes) {
  std::lock_guard lock(mu_);
  crash_bytes_ = bytes;
}
void FaultInjectionEnv::crash_after_ops(int64_t ops) {
  std::lock_guard lock(mu_);
  crash_ops_ = ops;
}
bool FaultInjectionEnv::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}
int64_t FaultInjectionEnv::ops() const {
  std::lock_guard lock(mu_);
  return ops_;
}

Status FaultInjectionEnv::begin_op(const std::string& what, const std::string& path) {
  if (crashed_) return Status::IOError(what + " " + path + ": injected crash (the process is dead)");
  ++ops_;
  if (crash_ops_ >= 0 && crash_ops_-- == 0) {
    crashed_ = true;
    return Status::IOError(what + " " + path + ": injected crash");
  }
  return Status::OK();
}

Status FaultInjectionEnv::append_locked(core::WritableFile& file, Node& node, const std::string& path,
                                        std::string_view data) {
  size_t fits = data.size();
  if (space_left_ >= 0) fits = std::min(fits, static_cast<size_t>(space_left_));
  if (crash_bytes_ >= 0) fits = std::min(fits, static_cast<size_t>(crash_bytes_));
  KVF_RETURN_IF_ERROR(file.append(data.substr(0, fits)));
  node.written += fits;
  if (space_left_ >= 0) space_left_ -= static_cast<int64_t>(fits);
  if (crash_bytes_ >= 0) crash_bytes_ -= static_cast<int64_t>(fits);
  if (fits == data.size()) return Status::OK();
  if (crash_bytes_ == 0) {
    crashed_ = true;
    return Status::IOError("cannot write " + path + ": injected crash after a torn write");
  }
  return Status::IOError("cannot write " + path + ": " + std::strerror(ENOSPC) + " (injected)");
}

void FaultInjectionEnv::remember_entry(const std::string& path) {
  if (durable_entry_.count(path)) return;  // an earlier unsynced change holds the durable state
  auto content = target()->read_file(path);
  auto info = target()->file_info(path);
  if (!content.ok() || !info.ok()) {
    durable_entry_[path] = std::nullopt;
    return;
  }
  const auto node = nodes_.find(path);
  if (node != nodes_.end() && node->second->synced < content->size()) content->resize(node->second->synced);
  durable_entry_[path] = Durable{std::move(*content), info->mtime_micros};
}

Result<std::unique_ptr<core::WritableFile>> FaultInjectionEnv::new_writable_file(const std::string& path) {
  std::lock_guard lock(mu_);
  KVF_RETURN_IF_ERROR(begin_op("cannot create", path));
  // Only a new name is a directory change; truncating an existing file is a
  // content change, which the node's synced size models.
  if (!target()->file_info(path).ok()) remember_entry(path);
  KVF_ASSIGN_OR_RETURN(auto base, target()->new_writable_file(path));
  auto node = std::make_shared<Node>();
  nodes_[path] = node;
  return std::unique_ptr<core::WritableFile>(
      std::make_unique<FaultFile>(this, std::move(base), std::move(node), path, generation_));
}

Result<std::string> FaultInjectionEnv::read_file(const std::string& path) {
  std::lock_guard lock(mu_);
  if (crashed_) return Status::IOError("cannot read " + path + ": injected crash (the process is dead)");
  return target()->read_file(path);
}

Status FaultInjectionEnv::rename_file(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  KVF_RETURN_IF_ERROR(begin_op("cannot rename", from));
  if (fail_rename_) return Status::IOError("cannot rename " + from + " onto " + to + ": injected rename failure");
  remember_entry(to);
  remember_entry(from);
  KVF_RETURN_IF_ERROR(target()->rename_file(from, to));
  const auto node = nodes_.find(from);
  if (node != nodes_.end()) {
    nodes_[to] = node->second;
    nodes_.erase(from);
  } else {
    nodes_.erase(to);
  }
  return Status::OK();
}

Status FaultInjectionEnv::remove_file(const std::string& path) {
  std::lock_guard lock(mu_);
  KVF_RETURN_IF_ERROR(begin_op("cannot remove", path));
  remember_entry(path);
  KVF_RETURN_IF_ERROR(target()->remove_file(path));
  nodes_.erase(path);
  return Status::OK();
}

Status FaultInjectionEnv::sync_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  KVF_RETURN_IF_ERROR(begin_op("cannot fsync directory", dir));
  if (fail_dir_sync_) return Status::IOError("cannot fsync directory " + dir + ": injected fsync failure");
  KVF_RETURN_IF_ERROR(target()->sync_dir(dir));
  const std::string d = normal(dir);
  std::erase_if(durable_entry_, [&](const auto& e) { return normal_dir(e.first) == d; });
  return Status::OK();
}

Status FaultInjectionEnv::create_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  KVF_RETURN_IF_ERROR(begin_op("cannot create", dir));
  return target()->create_dir(dir);
}

Result<std::vector<std::string>> FaultInjectionEnv::list_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (crashed_) return Status::IOError("cannot list " + dir + ": injected crash (the process is dead)");
  return target()->list_dir(dir);
}

Result<core::FileInfo> FaultInjectionEnv::file_info(const std::string& path) {
  std::lock_guard lock(mu_);
  if (crashed_) return Status::IOError("cannot stat " + path + ": injected crash (the process is dead)");
  return target()->file_info(path);
}

Status FaultInjectionEnv::set_mtime_micros(const std::string& path, int64_t micros) {
  std::lock_guard lock(mu_);
  if (crashed_) return Status::IOError("cannot set mtime of " + path + ": injected crash (the process is dead)");
  return target()->set_mtime_micros(path, micros);  // metadata: its durability is not modelled
}

Status FaultInjectionEnv::rewrite(const std::string& path, const std::string& content, int64_t mtime_micros) {
  KVF_ASSIGN_OR_RETURN(auto file, target()->new_writable_file(path));
  KVF_RETURN_IF_ERROR(file->append(content));
  KVF_RETURN_IF_ERROR(file->close());
  return target()->set_mtime_micros(path, mtime_micros);
}

Status FaultInjectionEnv::truncate_to_synced() {
  for (auto& [path, node] : nodes_) {
    if (node->synced == node->written) continue;
    auto content = target()->read_file(path);
    auto info = target()->file_info(path);
    if (!content.ok() || !info.ok()) continue;
    if (node->synced < content->size()) {
      content->resize(node->synced);
      KVF_RETURN_IF_ERROR(rewrite(path, *content, info->mtime_micros));
    }
    node->written = node->synced;
  }
  return Status::OK();
}

Status FaultInjectionEnv::drop_unsynced_data() {
  std::lock_guard lock(mu_);
  return truncate_to_synced();
}

Status FaultInjectionEnv::simulate_crash() {
  std::lock_guard lock(mu_);
  KVF_RETURN_IF_ERROR(truncate_to_synced());
  for (const auto& [path, durable] : durable_entry_) {
    if (durable) {
      KVF_RETURN_IF_ERROR(rewrite(path, durable->content, durable->mtime_micros));
    } else if (Status s = target()->remove_file(path); !s.ok() && !s.is_not_found()) {
      return s;
    }
  }
  nodes_.clear();
  durable_entry_.clear();
  fail_sync_ = fail_dir_sync_ = fail_rename_ = false;
  space_left_ = crash_bytes_ = crash_ops_ = -1;
  crashed_ = false;
  ++generation_;
  return Status::OK();
}

}  // namespace kvforge::testing

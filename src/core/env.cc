// PosixEnv: Env::Default(). Retries EINTR; maps errno to a Status naming the path.
#include "kvforge/core/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

namespace kvforge::core {

namespace {

Status errno_status(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return Status::NotFound(msg);
  return Status::IOError(msg);
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t w = ::write(fd_, data.data() + done, data.size() - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno_status("cannot write", path_, errno);
      }
      done += static_cast<size_t>(w);
    }
    return Status::OK();
  }

  Status sync() override {
    if (::fsync(fd_) != 0) return errno_status("cannot fsync", path_, errno);
    return Status::OK();
  }

  Status close() override {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return errno_status("cannot close", path_, errno);
    return Status::OK();
  }

 private:
  const std::string path_;
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status("cannot create", path, errno);
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(path, fd));
  }

  Result<std::string> read_file(const std::string& path) override;

  Status rename_file(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return errno_status("cannot rename " + from + " onto", to, errno);
    return Status::OK();
  }

  Status remove_file(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return errno_status("cannot remove", path, errno);
    return Status::OK();
  }

  Status sync_dir(const std::string& dir) override;

  Status create_dir(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
    return Status::OK();
  }

  Result<std::vector<std::string>> list_dir(const std::string& dir) override;

  Result<FileInfo> file_info(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return errno_status("cannot stat", path, errno);
    return FileInfo{static_cast<uint64_t>(st.st_size),
                    static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000,
                    S_ISREG(st.st_mode)};
  }

  Status set_mtime_micros(const std::string& path, int64_t micros) override {
    const struct timespec times[2] = {
        {0, UTIME_OMIT}, {static_cast<time_t>(micros / 1000000), static_cast<long>(micros % 1000000) * 1000}};
    if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) return errno_status("cannot set mtime of", path, errno);
    return Status::OK();
  }

  int64_t now_micros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  double now_seconds() override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  void sleep_until(double t) override {
    const double dt = t - now_seconds();
    if (dt > 0) std::this_thread::sleep_for(std::chrono::duration<double>(dt));
  }
};

Result<std::string> PosixEnv::read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("cannot open", path, errno);
  std::string out;
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      ::close(fd);
      return errno_status("error reading", path, err);
    }
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return out;
}

Status PosixEnv::sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status("cannot open directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // EINVAL: a file system that cannot sync directories (nothing more to do there).
  if (rc != 0 && err != EINVAL) return errno_status("cannot fsync directory", dir, err);
  return Status::OK();
}

Result<std::vector<std::string>> PosixEnv::list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return errno_status("cannot list", dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (const struct dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return errno_status("cannot list", dir, err);
  return names;
}

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv;  // never destroyed: usable from other statics' destructors
  return env;
}

std::string dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace kvforge::core

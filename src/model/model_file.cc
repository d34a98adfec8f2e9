#include "kvforge/model/model_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "kvforge/model/gguf_reader.h"
#include "kvforge/model/llama2c_reader.h"

#include "model/mapped_file.h"

namespace kvforge::model {

namespace {

// Upper limits: far above any model this runtime can execute on a CPU, low
// enough that products of them cannot overflow 64-bit byte counts.
constexpr int64_t kMaxDim = 65536;
constexpr int64_t kMaxHidden = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 65536;
constexpr int64_t kMaxVocab = int64_t{1} << 22;
constexpr int64_t kMaxContext = int64_t{1} << 24;

Status check_range(const char* field, int64_t value, int64_t max) {
  if (value <= 0) {
    return Status::InvalidArgument(std::string("model config: ") + field + " = " + std::to_string(value) +
                                   " must be positive");
  }
  if (value > max) {
    return Status::InvalidArgument(std::string("model config: ") + field + " = " + std::to_string(value) +
                                   " exceeds the limit " + std::to_string(max));
  }
  return Status::OK();
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

Status validate_config(const ModelConfig& c) {
  KVF_RETURN_IF_ERROR(check_range("dim", c.dim, kMaxDim));
  KVF_RETURN_IF_ERROR(check_range("hidden_dim", c.hidden_dim, kMaxHidden));
  KVF_RETURN_IF_ERROR(check_range("n_layers", c.n_layers, kMaxLayers));
  KVF_RETURN_IF_ERROR(check_range("n_heads", c.n_heads, kMaxHeads));
  KVF_RETURN_IF_ERROR(check_range("n_kv_heads", c.n_kv_heads, kMaxHeads));
  KVF_RETURN_IF_ERROR(check_range("vocab_size", c.vocab_size, kMaxVocab));
  KVF_RETURN_IF_ERROR(check_range("context_length", c.context_length, kMaxContext));
  if (c.head_dim == 0) {
    if (c.dim % c.n_heads != 0) {
      return Status::InvalidArgument("model config: dim = " + std::to_string(c.dim) + " is not divisible by n_heads = " +
                                     std::to_string(c.n_heads));
    }
  } else {
    KVF_RETURN_IF_ERROR(check_range("head_dim", c.head_dim, kMaxDim));
  }
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0) {
    return Status::InvalidArgument("model config: n_heads = " + std::to_string(c.n_heads) +
                                   " is not a multiple of n_kv_heads = " + std::to_string(c.n_kv_heads));
  }
  const int64_t head_dim = c.head_dim != 0 ? c.head_dim : c.dim / c.n_heads;
  // RoPE rotates pairs of values.
  if (head_dim % 2 != 0) {
    return Status::InvalidArgument("model config: head_dim = " + std::to_string(head_dim) + " must be even (RoPE pairs)");
  }
  if (head_dim * c.n_heads > kMaxDim * 4) {
    return Status::InvalidArgument("model config: n_heads * head_dim = " + std::to_string(head_dim * c.n_heads) +
                                   " exceeds the limit " + std::to_string(kMaxDim * 4));
  }
  if (!(c.rms_eps > 0.0f) || !(c.rms_eps < 1.0f)) {
    return Status::InvalidArgument("model config: rms_eps = " + std::to_string(c.rms_eps) + " is not in (0, 1)");
  }
  if (!(c.rope_theta > 0.0f) || !(c.rope_theta < 1e12f)) {
    return Status::InvalidArgument("model config: rope_theta = " + std::to_string(c.rope_theta) +
                                   " is not a positive finite base");
  }
  if (c.rope_dim < 0 || c.rope_dim > head_dim || c.rope_dim % 2 != 0) {
    return Status::InvalidArgument("model config: rope dimension count = " + std::to_string(c.rope_dim) +
                                   " must be even and at most head_dim = " + std::to_string(head_dim));
  }
  if (!(c.rope_freq_scale > 0.0f) || !(c.rope_freq_scale <= 1e6f)) {
    return Status::InvalidArgument("model config: rope frequency scale = " + std::to_string(c.rope_freq_scale) +
                                   " is not a positive finite factor");
  }
  return Status::OK();
}

std::string shape_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

int64_t TensorRef::rows() const {
  int64_t r = 1;
  for (size_t i = 1; i < dims.size(); ++i) r *= dims[i];
  return dims.empty() ? 0 : r;
}

int64_t TensorRef::elements() const {
  if (dims.empty()) return 0;
  return cols() * rows();
}

const TensorRef* ModelFile::find(const std::string& name) const {
  for (const TensorRef& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace detail {

Status map_file_readonly(const std::string& path, std::shared_ptr<const void>* storage, const uint8_t** data,
                         size_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IOError(path + ": cannot open: " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError(path + ": cannot stat: " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + ": not a regular file");
  }
  const size_t len = static_cast<size_t>(st.st_size);
  if (len == 0) {
    ::close(fd);
    storage->reset();
    *data = nullptr;
    *size = 0;
    return Status::OK();
  }
  void* addr = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
  if (addr != MAP_FAILED) {
    ::close(fd);
    *storage = std::shared_ptr<const void>(addr, [len](const void* p) { ::munmap(const_cast<void*>(p), len); });
    *data = static_cast<const uint8_t*>(addr);
    *size = len;
    return Status::OK();
  }
  // Some file systems cannot be mapped; fall back to reading the whole file.
  std::shared_ptr<std::vector<uint8_t>> buf;
  try {
    buf = std::make_shared<std::vector<uint8_t>>(len);
  } catch (const std::bad_alloc&) {
    ::close(fd);
    return Status::ResourceExhausted(path + ": cannot allocate " + std::to_string(len) + " bytes to read the file");
  }
  size_t done = 0;
  while (done < len) {
    const ssize_t n = ::read(fd, buf->data() + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      return Status::IOError(path + ": read failed at byte " + std::to_string(done) + ": " +
                             (n == 0 ? std::string("unexpected end of file") : errno_text(err)));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  *data = buf->data();
  *size = len;
  *storage = std::shared_ptr<const void>(buf, buf->data());
  return Status::OK();
}

}  // namespace detail

Result<ModelFile> read_model_file(const std::string& path) {
  std::shared_ptr<const void> storage;
  const uint8_t* data = nullptr;
  size_t size = 0;
  KVF_RETURN_IF_ERROR(detail::map_file_readonly(path, &storage, &data, &size));
  if (size == 0) return Status::Corruption(path + ": file is empty (0 bytes); expected a GGUF or llama2.c model");
  if (size >= 4 && std::memcmp(data, "GGUF", 4) == 0) {
    return parse_gguf(data, size, std::move(storage), path);
  }
  // A llama2.c checkpoint starts with the v1 magic or with dim, a small
  // positive int32; anything else is no format we know.
  uint32_t first = 0;
  if (size >= 4) std::memcpy(&first, data, 4);
  constexpr uint32_t kLlama2cV1Magic = 0x616b3432;
  if (size >= 4 && first != kLlama2cV1Magic && (first == 0 || first > 65536)) {
    std::string got;
    for (size_t i = 0; i < 4; ++i) {
      const unsigned char ch = data[i];
      if (ch >= 32 && ch < 127) {
        got += static_cast<char>(ch);
      } else {
        static const char kHex[] = "0123456789abcdef";
        got += "\\x";
        got += kHex[ch >> 4];
        got += kHex[ch & 15];
      }
    }
    return Status::Corruption(path + ": bad magic \"" + got +
                              "\": neither a GGUF file (magic \"GGUF\") nor a llama2.c checkpoint (first int32 = " +
                              std::to_string(first) + " is not a plausible dim or the v1 magic \"ak42\")");
  }
  return parse_llama2c(data, size, std::move(storage), path);
}

}  // namespace kvforge::model

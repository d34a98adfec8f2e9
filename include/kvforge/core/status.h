// Status and Result<T>: how every fallible kvforge call reports failure.
// Exceptions never cross the public API. The OK status holds no allocation.
// Codes are chosen by what the caller does next: NotFound (recompute / look
// elsewhere), Corruption (drop the data), InvalidArgument (fix the call),
// NotSupported (pick another option), IOError (retry or give up).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kvforge::core {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,
  kNotFound = 2,
  kCorruption = 3,
  kNotSupported = 4,
  kIOError = 5,
  kOutOfRange = 6,
  kResourceExhausted = 7,
  kInternal = 8,
};

std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status NotSupported(std::string msg) { return {StatusCode::kNotSupported, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status OutOfRange(std::string msg) { return {StatusCode::kOutOfRange, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) { return {StatusCode::kResourceExhausted, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "Corruption: <message>", or "OK".
  std::string to_string() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status with_context(std::string_view context) const;

  bool is_invalid_argument() const { return code() == StatusCode::kInvalidArgument; }
  bool is_not_found() const { return code() == StatusCode::kNotFound; }
  bool is_corruption() const { return code() == StatusCode::kCorruption; }
  bool is_not_supported() const { return code() == StatusCode::kNotSupported; }
  bool is_io_error() const { return code() == StatusCode::kIOError; }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {   // NOLINT: implicit by design
    if (status_.ok()) status_ = Status::Internal("Result constructed from OK status without a value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace kvforge::core

namespace kvforge {
using core::Result;
using core::Status;
using core::StatusCode;
}  // namespace kvforge

#define KVF_CONCAT_INNER_(a, b) a##b
#define KVF_CONCAT_(a, b) KVF_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define KVF_RETURN_IF_ERROR(expr)                         \
  do {                                                    \
    ::kvforge::core::Status kvf_status_ = (expr);         \
    if (!kvf_status_.ok()) return kvf_status_;            \
  } while (0)

// `lhs = value of expr` (a Result<T>), or return its Status.
#define KVF_ASSIGN_OR_RETURN(lhs, expr) \
  KVF_ASSIGN_OR_RETURN_IMPL_(KVF_CONCAT_(kvf_result_, __LINE__), lhs, expr)
#define KVF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

// Internal invariant: a kvforge bug, not a caller's mistake. Aborts with location.
#define KVF_CHECK(cond)                                                   \
  do {                                                                    \
    if (!(cond)) ::kvforge::core::check_failed(#cond, __FILE__, __LINE__); \
  } while (0)

namespace kvforge::core {
[[noreturn]] void check_failed(const char* cond, const char* file, int line);
}

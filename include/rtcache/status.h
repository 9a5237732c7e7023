// rtcache::Status -- the result of every fallible operation.
//
// A Status is either OK or carries a code and a one-line message that names
// the file involved and the reason ("/var/cache/k.rtc: record at offset 4096:
// value checksum mismatch"). Functions never throw for expected failures
// (I/O errors, damaged files, lock timeouts); they return a Status.
//
// Thread safety: a Status is a value; distinct objects may be used from
// distinct threads freely.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "rtcache/export.h"

namespace rtcache {

class [[nodiscard]] RTCACHE_EXPORT Status {
 public:
  enum class Code : int {
    kOk = 0,
    kNotFound,          // key absent (get) or file absent where one is required
    kCorruption,        // damaged or foreign file, bad serialized bytes
    kNotSupported,      // written by a newer format version; unsupported target
    kInvalidArgument,   // bad argument from the caller
    kIOError,           // the operating system refused (ENOSPC, EIO, EACCES, ...)
    kLockTimeout,       // another process held the cache lock past the timeout
    kPermissionDenied,  // file is not trusted (owner, mode) or not writable
    kNotACacheFile,     // the path names something that is not an rtcache file at all
                        // (another format, an empty file, a directory, a device)
    kCompileError,      // the JIT compiler rejected the source (the message carries its log)
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg = {}) { return {Code::kNotFound, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status NotSupported(std::string msg) { return {Code::kNotSupported, std::move(msg)}; }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status LockTimeout(std::string msg) { return {Code::kLockTimeout, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status NotACacheFile(std::string msg) { return {Code::kNotACacheFile, std::move(msg)}; }
  static Status CompileError(std::string msg) { return {Code::kCompileError, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  bool is_not_found() const { return code_ == Code::kNotFound; }
  bool is_corruption() const { return code_ == Code::kCorruption; }
  bool is_io_error() const { return code_ == Code::kIOError; }
  bool is_lock_timeout() const { return code_ == Code::kLockTimeout; }
  bool is_permission_denied() const { return code_ == Code::kPermissionDenied; }
  bool is_not_a_cache_file() const { return code_ == Code::kNotACacheFile; }
  bool is_compile_error() const { return code_ == Code::kCompileError; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "IO error: /path: No space left on device"
  std::string to_string() const;

  // Returns a copy whose message is "context: message" (keeps the code).
  Status with_context(std::string_view context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

RTCACHE_EXPORT std::string_view code_name(Status::Code code);

}  // namespace rtcache

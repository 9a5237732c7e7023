// rtcache::Bytes -- an immutable, reference-counted byte string.
//
// Values handed out by the cache are Bytes: copying one copies a pointer, not
// the data, so a cache hit never copies the kernel binary. The bytes stay
// valid for as long as any Bytes refers to them, even after the entry is
// erased or the cache handle is destroyed.
//
// Thread safety: like std::shared_ptr<const T>. Distinct Bytes objects may be
// used concurrently; the referenced bytes are never modified.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace rtcache {

class Bytes {
 public:
  Bytes() = default;
  explicit Bytes(std::string data)
      : rep_(std::make_shared<const std::string>(std::move(data))), size_(rep_->size()) {}
  explicit Bytes(std::string_view data) : Bytes(std::string(data)) {}
  // A part of a shared buffer (used to hand out a value read together with
  // its record without copying it out).
  Bytes(std::shared_ptr<const std::string> buffer, size_t offset, size_t size)
      : rep_(std::move(buffer)), offset_(offset), size_(size) {}

  const char* data() const { return rep_ ? rep_->data() + offset_ : ""; }
  size_t size() const { return size_; }
  bool empty() const { return size() == 0; }
  std::string_view view() const { return {data(), size()}; }
  std::string str() const { return std::string(view()); }

  // True when both refer to the same stored bytes (not a content comparison).
  bool shares_with(const Bytes& other) const { return rep_ == other.rep_; }

  friend bool operator==(const Bytes& a, const Bytes& b) { return a.view() == b.view(); }

 private:
  std::shared_ptr<const std::string> rep_;
  size_t offset_ = 0;
  size_t size_ = 0;
};

}  // namespace rtcache

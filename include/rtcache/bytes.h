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
  explicit Bytes(std::string data) {
    auto owned = std::make_shared<const std::string>(std::move(data));
    data_ = owned->data();
    size_ = owned->size();
    owner_ = std::move(owned);
  }
  explicit Bytes(std::string_view data) : Bytes(std::string(data)) {}
  // Bytes that `owner` keeps alive (used to hand out a value in place, inside
  // the buffer it was read or decompressed into, without copying it out).
  Bytes(std::shared_ptr<const void> owner, const char* data, size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  const char* data() const { return owner_ ? data_ : ""; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data(), size()}; }
  std::string str() const { return std::string(view()); }

  // True when both refer to the same stored bytes (not a content comparison).
  bool shares_with(const Bytes& other) const {
    return owner_ == other.owner_ && data_ == other.data_;
  }

  friend bool operator==(const Bytes& a, const Bytes& b) { return a.view() == b.view(); }

 private:
  std::shared_ptr<const void> owner_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace rtcache

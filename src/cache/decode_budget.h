// A bound on the bytes one operation decodes while it holds every value at
// once (deserialize, an import, loading another file): at least 256 MiB, and
// beyond that at most 32 times the bytes it reads. Kernel binaries compress 3
// to 8 times; a small image of decompression bombs (each within the
// per-value limit) would otherwise exhaust memory.
#pragma once

#include <cstdint>
#include <string>

#include "rtcache/status.h"

namespace rtcache {

class DecodeBudget {
 public:
  static constexpr uint64_t kMinimum = 256ull << 20;
  static constexpr uint64_t kRatio = 32;

  explicit DecodeBudget(uint64_t input_bytes)
      : left_(input_bytes > kMinimum / kRatio ? input_bytes * kRatio : kMinimum), total_(left_) {}

  // Corruption naming `source` when decoding `raw_bytes` more would pass it.
  Status charge(const std::string& source, uint64_t raw_bytes) {
    if (raw_bytes > left_) {
      return Status::Corruption(source + ": its values decode to more than " +
                                std::to_string(total_) + " bytes (" + std::to_string(kRatio) +
                                " times its size); refused as a decompression bomb");
    }
    left_ -= raw_bytes;
    return Status::OK();
  }

 private:
  uint64_t left_;
  uint64_t total_;
};

}  // namespace rtcache

// A 128-bit XXH3 digest as 32 lowercase hex digits: how the engine writes
// keys and the header manifest writes content hashes.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <string>

namespace rtcache {

inline std::string hex128(XXH128_hash_t h) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (uint64_t part : {h.high64, h.low64}) {
    for (int shift = 60; shift >= 0; shift -= 4) out += kHex[(part >> shift) & 15];
  }
  return out;
}

}  // namespace rtcache

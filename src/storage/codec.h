// Value encodings: raw, or zstd. Compression keeps the raw bytes when it
// would not save at least an eighth; decompression is bounded by the length
// the record declares.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rtcache/options.h"
#include "rtcache/status.h"

namespace rtcache::codec {

// Returns the encoding actually used. Only for kZstd is *stored filled; with
// kNone the raw bytes are the stored bytes (nothing is copied).
Compression encode(Compression wanted, int level, std::string_view raw, std::string* stored);

// Decodes `stored` into exactly raw_len bytes at `raw` (which has room for
// them); Corruption on any mismatch.
Status decode(Compression encoding, std::string_view stored, uint64_t raw_len, char* raw);

}  // namespace rtcache::codec

// Deterministic, self-describing values, shared by the tests, the child
// program they run and the plugin it loads: a value names its key and version,
// so a torn, stale or mixed-up value read back from a file is recognised.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rtcache::testing {

// "<key>#<version>#" followed by bytes derived from both (partly
// compressible, partly not), 64 to ~4 KB long.
std::string MakeValue(std::string_view key, uint64_t version = 1);

// True when `value` is exactly MakeValue(k, v) for the key and version it
// names; sets *key and *version.
bool CheckValue(std::string_view value, std::string* key, uint64_t* version);

}  // namespace rtcache::testing

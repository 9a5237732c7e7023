// rtcache's environment variables, read with the library's grammars. A value
// that does not parse is one warning naming the variable, its value and what
// it takes (once per variable and value in a process), and the fallback is
// used: a typo is never silently ignored, nor fatal.
//
// Thread-safe. The warnings go through rtcache::log.
#pragma once

#include <cstdint>

namespace rtcache {

// The variable's value; nullptr when it is unset or empty.
const char* env_value(const char* name);

// A switch (parse_bool: 1/0, true/false, yes/no, on/off, any case).
bool env_switch(const char* name, bool fallback);

// RTCACHE_MAX_SIZE (a size, parse_byte_size: 4096, 64K, 512MiB, 1T; 0 is no
// limit) is read by resolve_max_bytes() (rtcache/options.h).

// Logs `message` as a warning unless this exact message was logged before.
void warn_once(const char* message);

}  // namespace rtcache

#include "common/environment.h"

#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

#include "rtcache/log.h"
#include "rtcache/options.h"

namespace rtcache {

const char* env_value(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

void warn_once(const char* message) {
  static std::mutex mu;
  static auto* warned = new std::set<std::string>();  // never destroyed: usable at exit
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!warned->insert(message).second) return;
  }
  log(LogLevel::kWarning, message);
}

bool env_switch(const char* name, bool fallback) {
  const char* text = env_value(name);
  bool value = fallback;
  if (text != nullptr && !parse_bool(text, &value)) {
    warn_once((std::string(name) + "=" + text +
               " is not a switch (1/0, true/false, yes/no, on/off); ignored")
                  .c_str());
    return fallback;
  }
  return value;
}

uint64_t resolve_max_bytes(uint64_t max_bytes, const char** source) {
  auto from = [source](const char* name) {
    if (source != nullptr) *source = name;
  };
  if (max_bytes != 0) {
    from("Options::max_bytes");
    return max_bytes;
  }
  const char* text = env_value("RTCACHE_MAX_SIZE");
  uint64_t value = 0;
  if (text == nullptr) {
    from("default");
    return kDefaultMaxBytes;
  }
  if (!parse_byte_size(text, &value)) {
    warn_once((std::string("RTCACHE_MAX_SIZE=") + text +
               " is not a size (e.g. 512M, or 0 for no limit); the default budget (1 GiB) "
               "applies")
                  .c_str());
    from("default");
    return kDefaultMaxBytes;
  }
  from("RTCACHE_MAX_SIZE");
  return value == 0 ? kNoSizeLimit : value;  // 0 is no limit, as ccache users read it
}

}  // namespace rtcache

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

uint64_t env_byte_size(const char* name, uint64_t fallback, const char* when_bad) {
  const char* text = env_value(name);
  uint64_t value = fallback;
  if (text != nullptr && !parse_byte_size(text, &value)) {
    warn_once((std::string(name) + "=" + text + " is not a size (e.g. 512M); " + when_bad).c_str());
    return fallback;
  }
  return value;
}

}  // namespace rtcache

// The one grammar for sizes, durations and switches (include/rtcache/options.h).
#include "rtcache/options.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtcache {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Splits "123unit" into 123 and "unit"; false without digits or on overflow.
bool split_count(std::string_view text, uint64_t* count, std::string* unit) {
  uint64_t value = 0;
  size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    if (value > (UINT64_MAX - 9) / 10) return false;
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i == 0) return false;
  *count = value;
  *unit = lower(text.substr(i));
  return true;
}

}  // namespace

bool parse_byte_size(std::string_view text, uint64_t* bytes) {
  uint64_t count = 0;
  std::string unit;
  if (!split_count(text, &count, &unit)) return false;
  int shift = 0;
  if (!unit.empty()) {
    const std::string_view prefixes = "kmgt";
    const size_t at = prefixes.find(unit[0]);
    if (at == std::string_view::npos) return false;
    shift = 10 * static_cast<int>(at + 1);
    const std::string_view rest = std::string_view(unit).substr(1);
    if (!rest.empty() && rest != "b" && rest != "ib") return false;
  }
  if (shift && count > (UINT64_MAX >> shift)) return false;
  *bytes = count << shift;
  return true;
}

bool parse_duration(std::string_view text, std::chrono::milliseconds* duration) {
  uint64_t count = 0;
  std::string unit;
  if (!split_count(text, &count, &unit)) return false;
  uint64_t ms_per_unit = 0;
  if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit.empty() || unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "m") {
    ms_per_unit = 60'000;
  } else if (unit == "h") {
    ms_per_unit = 3'600'000;
  } else if (unit == "d") {
    ms_per_unit = 86'400'000;
  } else {
    return false;
  }
  // The library computes in int64 nanoseconds: the duration must fit there.
  constexpr uint64_t kMaxMs = static_cast<uint64_t>(INT64_MAX) / 1'000'000;
  if (count > kMaxMs / ms_per_unit) return false;
  *duration = std::chrono::milliseconds(static_cast<int64_t>(count * ms_per_unit));
  return true;
}

bool parse_bool(std::string_view text, bool* value) {
  const std::string word = lower(text);
  if (word == "1" || word == "true" || word == "yes" || word == "on") {
    *value = true;
    return true;
  }
  if (word == "0" || word == "false" || word == "no" || word == "off") {
    *value = false;
    return true;
  }
  return false;
}

}  // namespace rtcache

#include "rtcache/options.h"

#include <cctype>
#include <cstdint>
#include <string_view>

namespace rtcache {

bool parse_byte_size(std::string_view text, uint64_t* bytes) {
  if (text.empty()) return false;
  uint64_t value = 0;
  size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    if (value > (UINT64_MAX - 9) / 10) return false;
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i == 0) return false;
  int shift = 0;
  if (i < text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[i]))) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      default:
        return false;
    }
    ++i;
    if (i < text.size() && (text[i] == 'B' || text[i] == 'b')) ++i;  // "64KB"
  }
  if (i != text.size()) return false;
  if (shift && value > (UINT64_MAX >> shift)) return false;
  *bytes = value << shift;
  return true;
}

}  // namespace rtcache

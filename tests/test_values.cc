#include "test_values.h"

#include <algorithm>

namespace rtcache::testing {
namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

uint64_t seed_of(std::string_view key, uint64_t version) {
  uint64_t h = 1469598103934665603ull;
  for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return mix(h ^ mix(version + 0x9e3779b97f4a7c15ull));
}

std::string body_for(std::string_view key, uint64_t version) {
  uint64_t state = seed_of(key, version);
  size_t length = 64 + static_cast<size_t>(state % 4032);
  std::string body;
  body.reserve(length);
  while (body.size() < length) {
    state = mix(state + 1);
    if (state % 4 == 0) {
      body.append(std::min<size_t>(length - body.size(), 24), static_cast<char>('a' + state % 26));
    } else {
      for (int i = 0; i < 8 && body.size() < length; ++i) {
        body.push_back(static_cast<char>((state >> (8 * i)) & 0xff));
      }
    }
  }
  return body;
}

}  // namespace

std::string MakeValue(std::string_view key, uint64_t version) {
  return std::string(key) + "#" + std::to_string(version) + "#" + body_for(key, version);
}

bool CheckValue(std::string_view value, std::string* key, uint64_t* version) {
  size_t second = value.find('#');
  if (second == std::string_view::npos) return false;
  size_t third = value.find('#', second + 1);
  if (third == std::string_view::npos || third == second + 1 || third - second > 20) return false;
  uint64_t v = 0;
  for (size_t i = second + 1; i < third; ++i) {
    if (value[i] < '0' || value[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(value[i] - '0');
  }
  std::string_view k = value.substr(0, second);
  if (value.substr(third + 1) != body_for(k, v)) return false;
  *key = std::string(k);
  *version = v;
  return true;
}

}  // namespace rtcache::testing

// libFuzzer target: the input is handed to RuntimeCache::deserialize() and to
// load_from_stream(). Accepted bytes must describe a cache whose every entry
// reads back, and serialize() of it must be accepted again with the same
// entries; refused bytes must leave the cache unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "rtcache/rtcache.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

std::vector<std::pair<std::string, std::string>> Contents(rtcache::RuntimeCache& cache) {
  std::vector<rtcache::EntryInfo> entries;
  Check(cache.entries(&entries).ok(), "entries() failed on an accepted cache");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : entries) {
    rtcache::Bytes value;
    Check(cache.get(e.key, &value).ok(), "an accepted entry does not read back");
    out.emplace_back(e.key, value.str());
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  rtcache::set_log_level(rtcache::LogLevel::kOff);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  rtcache::Options options;
  options.max_value_bytes = 16u << 20;
  auto cache = rtcache::RuntimeCache::create(options);
  cache->put("existing", "value");
  rtcache::Status s = cache->deserialize(bytes);
  if (!s.ok()) {
    Check(cache->size() == 1, "a refused deserialize() changed the cache");
  } else {
    auto first = Contents(*cache);
    std::string image;
    Check(cache->serialize(&image).ok(), "serialize() failed");
    auto again = rtcache::RuntimeCache::create(options);
    Check(again->deserialize(image).ok(), "deserialize() refused serialize() output");
    Check(Contents(*again) == first, "a serialize()/deserialize() round trip changed entries");
  }
  // The stream path reads the header first, then exactly the image's length.
  std::istringstream stream{std::string(bytes)};
  auto streamed = rtcache::RuntimeCache::create(options);
  size_t read = 0;
  if (streamed->load_from_stream(stream, &read).ok()) {
    Check(read <= size, "load_from_stream() read more than the stream held");
  }
  return 0;
}

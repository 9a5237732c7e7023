// libFuzzer target: the input is a cache file. It is written to a private
// temp file and read every way rtcache reads files: open (header, trailer,
// index chain, backward probe, salvage), every entry listed and read, every
// value verified, serialize() and deserialize() of the result, inspect_file,
// verify_file and, for one input in eight, repair_file and a re-open.
//
// Invariants checked (a violation aborts, which libFuzzer reports):
//  - a value handed out hashes to what its record declares (read_record
//    verifies) and belongs to the key asked for;
//  - serialize() of whatever loaded is accepted by deserialize();
//  - a repaired file verifies clean.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "rtcache/rtcache.h"

namespace {

// A private directory for the input file, removed when the fuzzer exits
// (never destroyed itself, so the exit handler can still use it).
const std::string& Dir() {
  static const std::string* dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/rtcache-fuzz-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    return new std::string(tmpl);
  }();
  static const bool cleanup = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    });
    return true;
  }();
  (void)cleanup;
  return *dir;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  rtcache::set_log_level(rtcache::LogLevel::kOff);  // damaged records are expected here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = Dir() + "/input.rtc";
  WriteFile(path, data, size);
  rtcache::Options options;
  options.path = path;
  options.sync = false;
  options.max_value_bytes = 16u << 20;  // keeps each input's memory small
  {
    std::shared_ptr<rtcache::RuntimeCache> cache;
    if (rtcache::RuntimeCache::open(options, &cache).ok()) {
      std::vector<rtcache::EntryInfo> entries;
      if (cache->entries(&entries).ok()) {
        for (const rtcache::EntryInfo& e : entries) {
          rtcache::Bytes value;
          std::string meta;
          if (cache->get(e.key, &value, &meta).ok()) {
            Check(cache->contains(e.key), "a key just read is not contained");
          }
        }
      }
      (void)cache->stats();
      std::string image;
      if (cache->serialize(&image).ok()) {
        auto copy = rtcache::RuntimeCache::create();
        Check(copy->deserialize(image).ok(), "deserialize() refused serialize() output");
      }
    }
  }
  rtcache::FileReport report;
  (void)rtcache::inspect_file(path, &report, options);
  rtcache::VerifyReport verify;
  (void)rtcache::verify_file(path, &verify, options);
  if (size % 8 == 0) {
    rtcache::RepairReport repaired;
    if (rtcache::repair_file(path, &repaired, options).ok()) {
      rtcache::VerifyReport after;
      Check(rtcache::verify_file(path, &after, options).ok() && after.ok(),
            "a repaired file does not verify");
      std::shared_ptr<rtcache::RuntimeCache> cache;
      Check(rtcache::RuntimeCache::open(options, &cache).ok(), "a repaired file does not open");
    }
  }
  return 0;
}

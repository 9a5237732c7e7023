// Writes the seed corpus for the fuzzers from real files made by rtcache:
//   make_seed_corpus OUT_DIR
// creates OUT_DIR/file/* (cache files: one save, appends with delta indexes,
// erases, a compacted file, zstd and raw values, a torn tail, an empty-index
// file, and two hostile shapes: index record headers at every 4 KB boundary
// that each claim the rest of the file, and an image of decompression bombs)
// and OUT_DIR/image/* (serialize() images).
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crafted_files.h"
#include "rtcache/rtcache.h"
#include "storage/format.h"
#include "storage/store.h"

namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Value(int i, size_t size) {
  std::string v;
  unsigned x = 2654435761u * static_cast<unsigned>(i + 1);
  while (v.size() < size) {
    x = x * 1103515245u + 12345u;
    v.push_back(static_cast<char>(x % 4 == 0 ? 'A' + i % 26 : (x >> 16)));
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seed_corpus OUT_DIR\n");
    return 2;
  }
  const std::string out = argv[1];
  ::mkdir(out.c_str(), 0755);
  ::mkdir((out + "/file").c_str(), 0755);
  ::mkdir((out + "/image").c_str(), 0755);
  const std::string work = out + "/work.rtc";
  std::remove(work.c_str());
  rtcache::Options options;
  options.path = work;
  options.sync = false;
  options.compaction_min_dead_bytes = 1u << 30;  // compact only when asked
  auto cache = rtcache::RuntimeCache::create(options);
  int n = 0;
  auto snapshot = [&](const char* name) {
    Write(out + "/file/" + std::to_string(n++) + "-" + name, Read(work));
    std::string image;
    if (cache->serialize(&image).ok()) Write(out + "/image/" + name, image);
  };
  cache->put("k0", Value(0, 200), "sm_90 nvrtc 13.0");  // compressed
  cache->put("k1", "raw", "");                          // too small to compress
  cache->put("k2", Value(2, 1000), "sm_80");
  if (!cache->save().ok()) return 1;
  snapshot("one-save");
  cache->put("k3", Value(3, 64), "sm_90");
  cache->put("k0", Value(10, 300), "sm_90");
  cache->erase("k1");
  if (!cache->save().ok()) return 1;
  snapshot("delta-index");
  for (int i = 0; i < 3; ++i) {
    cache->put("loop" + std::to_string(i), Value(20 + i, 80 + i), "m");
    if (!cache->save().ok()) return 1;
  }
  snapshot("deltas");
  if (!cache->compact().ok()) return 1;
  snapshot("compacted");
  // A torn tail: half of the last save's bytes.
  std::string whole = Read(work);
  Write(out + "/file/" + std::to_string(n++) + "-torn-tail", whole.substr(0, whole.size() - 700));
  Write(out + "/file/" + std::to_string(n++) + "-header-only", whole.substr(0, 64));
  Write(out + "/file/" + std::to_string(n++) + "-overlapping-indexes",
        rtcache::crafted::overlapping_indexes(64u << 10));
  Write(out + "/image/bombs", rtcache::crafted::decompression_bombs(8, 1u << 20));
  std::fprintf(stderr, "seed corpus written to %s\n", out.c_str());
  std::remove(work.c_str());
  std::remove((work + ".lock").c_str());
  return 0;
}

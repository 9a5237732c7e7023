// store_bench: rtcache against the hardware floors, on real NVRTC cubins.
//
// For N = 1,000 and 10,000 entries (32-byte keys, values made from the
// corpus cubins) it measures, in-process with the page cache warm, medians
// of several runs:
//   - save everything from empty, durably (zstd-1 and uncompressed);
//   - open + get 10 random values; open + get every value;
//   - add 10 values to a full cache + durable save;
//   - a repeated hit in a warm process (1 and 2 threads);
//   - file sizes;
// and, interleaved in the same run, the floors the hardware allows: writing
// the bytes + one fsync, appending 10 values + one fsync, reading the bytes
// through mmap (no copy) and pread, a 4 KB append + fsync, zstd decompression.
// It prints markdown tables with rtcache/floor ratios and marks each target of
// the core issue as met or missed. It asserts nothing: a failing rtcache call
// shows up as "error" in the table and its message on stderr.
//
// Usage: store_bench --corpus DIR [--sizes 1000,10000] [--runs 5] [--fast-runs 15]
//                    [--tmpdir DIR]   (--help says more)

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <zstd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_cli.h"
#include "bench_common.h"
#include "kernels/cli.h"
#include "rtcache/runtime_cache.h"

namespace {

namespace fs = std::filesystem;
using namespace bench;

// The private temp dir, removed on every exit path (it may hold gigabytes).
fs::path g_temp_dir;

// For failures of the floors themselves (the machine, not rtcache).
[[noreturn]] void die(const std::string& what, bool with_errno = true) {
  std::fprintf(stderr, "store_bench: %s%s%s\n", what.c_str(), with_errno ? ": " : "",
               with_errno ? std::strerror(errno) : "");
  std::error_code ignored;
  if (!g_temp_dir.empty()) fs::remove_all(g_temp_dir, ignored);
  std::exit(1);
}

// Results of byte-reading floors go here so the compiler cannot drop the reads.
std::atomic<uint64_t> g_sink{0};

// --- the workload -------------------------------------------------------------

struct Workload {
  size_t n = 0;
  std::vector<std::string> keys;
  std::vector<rtcache::Bytes> values;
  std::vector<uint64_t> offsets;  // of each value in the floor's raw file
  uint64_t raw_bytes = 0;
  size_t max_value_bytes = 0;
};

Workload make_workload(const std::vector<std::string>& cubins, size_t n) {
  Workload w;
  w.n = n;
  for (size_t i = 0; i < n; ++i) {
    w.keys.push_back(make_key(i));
    w.values.emplace_back(make_value(cubins, i));
    w.offsets.push_back(w.raw_bytes);
    w.raw_bytes += w.values.back().size();
    w.max_value_bytes = std::max(w.max_value_bytes, w.values.back().size());
  }
  return w;
}

// Ids of the values added to a full cache: disjoint from the workload's and
// from every other run's.
uint64_t added_value_id(size_t n, int variant, int run, int j) {
  return 1'000'000'000ull + n * 1'000'000ull + variant * 100'000ull + run * 10ull + j;
}

// --- the floors ----------------------------------------------------------------

class File {
 public:
  File(const fs::path& path, int flags, mode_t mode = 0600)
      : fd_(::open(path.c_str(), flags, mode)) {
    if (fd_ < 0) die("open " + path.string());
  }
  ~File() { ::close(fd_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return fd_; }
  void write_all(const char* data, size_t size) {
    std::string error;
    if (!bench::write_all(fd_, data, size, &error)) die(error, false);
  }
  // fdatasync, as rtcache uses: it makes appended data and the new size
  // durable without flushing timestamps, so it is the cheaper floor.
  void sync_data() {
    if (::fdatasync(fd_) != 0) die("fdatasync");
  }

 private:
  int fd_;
};

void pread_all(int fd, char* buffer, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t got = ::pread(fd, buffer, size, static_cast<off_t>(offset));
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      die("pread");
    }
    buffer += got;
    size -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

void sync_directory(const fs::path& dir) {
  std::string error;
  if (!fsync_directory(dir.string(), &error)) die(error, false);
}

// A file mapped read-only, without copying.
class MappedFile {
 public:
  explicit MappedFile(const fs::path& path) : file_(path, O_RDONLY) {
    struct stat st;
    if (::fstat(file_.fd(), &st) != 0) die("fstat");
    size_ = static_cast<size_t>(st.st_size);
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, file_.fd(), 0);
    if (map_ == MAP_FAILED) die("mmap");
  }
  ~MappedFile() { ::munmap(map_, size_); }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return static_cast<const char*>(map_); }
  size_t size() const { return size_; }

 private:
  File file_;
  size_t size_ = 0;
  void* map_ = nullptr;
};

// Each value compressed on its own with zstd level 1, as a store would.
struct CompressedValues {
  std::vector<std::string> frames;
  std::vector<uint64_t> offsets;  // of each frame in the floor's compressed file
  uint64_t total_bytes = 0;
};

// Threads the compression floor may use: all of them, as a store may.
unsigned compression_threads() {
  return std::max(1u, std::thread::hardware_concurrency());
}

CompressedValues compress_values(const Workload& w, int level, unsigned threads = 1) {
  CompressedValues out;
  out.frames.resize(w.n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    for (size_t i = next++; i < w.n; i = next++) {
      const rtcache::Bytes& value = w.values[i];
      std::string frame(ZSTD_compressBound(value.size()), '\0');
      const size_t size = ZSTD_compressCCtx(ctx.get(), frame.data(), frame.size(), value.data(),
                                            value.size(), level);
      if (ZSTD_isError(size)) die(std::string("zstd: ") + ZSTD_getErrorName(size), false);
      frame.resize(size);
      out.frames[i] = std::move(frame);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  for (const std::string& frame : out.frames) {
    out.offsets.push_back(out.total_bytes);
    out.total_bytes += frame.size();
  }
  return out;
}

// Write every value to a new file, then one fsync of the file and directory.
double floor_write_raw(const Workload& w, const fs::path& path) {
  const auto start = Clock::now();
  {
    File file(path, O_WRONLY | O_CREAT | O_TRUNC);
    for (const rtcache::Bytes& value : w.values) file.write_all(value.data(), value.size());
    file.sync_data();
  }
  sync_directory(path.parent_path());
  return seconds_since(start);
}

// The zstd save floor: compress every value (level 1, on every core), write,
// one fsync.
double floor_write_compressed(const Workload& w, const fs::path& path) {
  const auto start = Clock::now();
  const CompressedValues compressed = compress_values(w, 1, compression_threads());
  {
    File file(path, O_WRONLY | O_CREAT | O_TRUNC);
    for (const std::string& frame : compressed.frames) file.write_all(frame.data(), frame.size());
    file.sync_data();
  }
  sync_directory(path.parent_path());
  return seconds_since(start);
}

// mmap without copying; touch one byte per page (the cheapest possible read).
double floor_mmap_touch_pages(const fs::path& path) {
  const auto start = Clock::now();
  {
    const MappedFile map(path);
    uint64_t sum = 0;
    for (size_t i = 0; i < map.size(); i += 4096) sum += static_cast<unsigned char>(map.data()[i]);
    g_sink += sum;
  }
  return seconds_since(start);
}

// mmap without copying; read every byte of every value (what verifying a
// checksum, or handing the bytes to a consumer, costs at least).
double floor_mmap_sum(const Workload& w, const fs::path& path) {
  const auto start = Clock::now();
  {
    const MappedFile map(path);
    uint64_t sum = 0;
    for (size_t i = 0; i < w.n; ++i)
      sum += sum_words(map.data() + w.offsets[i], w.values[i].size());
    g_sink += sum;
  }
  return seconds_since(start);
}

double floor_pread_all(const Workload& w, const fs::path& path) {
  std::string buffer(w.max_value_bytes, '\0');
  const auto start = Clock::now();
  File file(path, O_RDONLY);
  for (size_t i = 0; i < w.n; ++i)
    pread_all(file.fd(), buffer.data(), w.values[i].size(), w.offsets[i]);
  g_sink += static_cast<unsigned char>(buffer[0]);
  return seconds_since(start);
}

double floor_open_pread_some(const Workload& w, const fs::path& path,
                             const std::vector<uint64_t>& indices) {
  std::string buffer(w.max_value_bytes, '\0');
  const auto start = Clock::now();
  File file(path, O_RDONLY);
  for (uint64_t i : indices) pread_all(file.fd(), buffer.data(), w.values[i].size(), w.offsets[i]);
  g_sink += static_cast<unsigned char>(buffer[0]);
  return seconds_since(start);
}

// The compressed read of a few values: open, pread each frame, decompress it.
double floor_open_pread_decompress_some(const Workload& w, const CompressedValues& compressed,
                                        const fs::path& path,
                                        const std::vector<uint64_t>& indices) {
  std::string frame, buffer(w.max_value_bytes, '\0');
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  const auto start = Clock::now();
  File file(path, O_RDONLY);
  for (uint64_t i : indices) {
    frame.resize(compressed.frames[i].size());
    pread_all(file.fd(), frame.data(), frame.size(), compressed.offsets[i]);
    const size_t size =
        ZSTD_decompressDCtx(ctx.get(), buffer.data(), buffer.size(), frame.data(), frame.size());
    if (ZSTD_isError(size) || size != w.values[i].size()) die("zstd decompress failed", false);
  }
  g_sink += static_cast<unsigned char>(buffer[0]);
  return seconds_since(start);
}

// Decompress every frame from memory into one reused buffer (the CPU part of
// reading compressed values; the compressed read floor adds the mmap floor).
double floor_decompress_all(const Workload& w, const CompressedValues& compressed) {
  std::string buffer(w.max_value_bytes, '\0');
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  const auto start = Clock::now();
  for (size_t i = 0; i < w.n; ++i) {
    const std::string& frame = compressed.frames[i];
    const size_t size =
        ZSTD_decompressDCtx(ctx.get(), buffer.data(), buffer.size(), frame.data(), frame.size());
    if (ZSTD_isError(size) || size != w.values[i].size()) die("zstd decompress failed", false);
  }
  g_sink += static_cast<unsigned char>(buffer[0]);
  return seconds_since(start);
}

// Append the given bytes to an existing file + one fsync (open and close included).
double floor_append(const fs::path& path, const std::vector<std::string_view>& chunks) {
  const auto start = Clock::now();
  File file(path, O_WRONLY | O_APPEND);
  for (std::string_view chunk : chunks) file.write_all(chunk.data(), chunk.size());
  file.sync_data();
  return seconds_since(start);
}

// --- rtcache --------------------------------------------------------------------

enum Variant { kZstd = 0, kNone = 1 };
constexpr int kVariants = 2;
const char* const kVariantNames[kVariants] = {"zstd-1", "none"};

rtcache::Options cache_options(const fs::path& path, Variant variant) {
  rtcache::Options options;
  options.path = path.string();
  options.compression =
      variant == kZstd ? rtcache::Compression::kZstd : rtcache::Compression::kNone;
  return options;  // sync stays on: every save is durable
}

void remove_cache_file(const fs::path& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
  fs::remove(path.string() + ".lock", ignored);
}

// Opens `path`; on failure records the error and returns nullptr.
std::shared_ptr<rtcache::RuntimeCache> open_cache(const fs::path& path, Variant variant,
                                                  Samples* samples) {
  std::shared_ptr<rtcache::RuntimeCache> cache;
  const rtcache::Status status = rtcache::RuntimeCache::open(cache_options(path, variant), &cache);
  if (!status.ok()) {
    samples->fail("open " + path.string() + ": " + status.to_string());
    return nullptr;
  }
  return cache;
}

// Puts every value into a new handle (timed into *put_samples) and saves it
// from empty (timed into *save_samples).
void rtcache_save_all(const Workload& w, const fs::path& path, Variant variant,
                      Samples* put_samples, Samples* save_samples) {
  remove_cache_file(path);
  auto cache = rtcache::RuntimeCache::create(cache_options(path, variant));
  auto start = Clock::now();
  for (size_t i = 0; i < w.n; ++i) cache->put(w.keys[i], w.values[i], "sm_90 nvrtc 13.0");
  put_samples->add(seconds_since(start));
  start = Clock::now();
  const rtcache::Status status = cache->save();
  if (status.ok()) {
    save_samples->add(seconds_since(start));
  } else {
    save_samples->fail("save " + path.string() + ": " + status.to_string());
  }
}

// Open + get the values at `indices`; the handle is dropped after timing.
void rtcache_open_get(const Workload& w, const fs::path& path, Variant variant,
                      const std::vector<uint64_t>& indices, Samples* samples,
                      Samples* close_samples = nullptr) {
  const auto start = Clock::now();
  auto cache = open_cache(path, variant, samples);
  if (!cache) return;
  uint64_t bytes = 0;
  rtcache::Bytes value;
  for (uint64_t i : indices) {
    const rtcache::Status status = cache->get(w.keys[i], &value);
    if (!status.ok()) {
      samples->fail("get: " + status.to_string());
      return;
    }
    bytes += value.size();
  }
  samples->add(seconds_since(start));
  g_sink += bytes;
  const auto close_start = Clock::now();
  cache.reset();
  if (close_samples) close_samples->add(seconds_since(close_start));
}

// Checks, untimed, that the file returns every value byte for byte.
std::string verify_cache(const Workload& w, const fs::path& path, Variant variant) {
  Samples unused;
  auto cache = open_cache(path, variant, &unused);
  if (!cache) return "open failed";
  size_t mismatches = 0;
  rtcache::Bytes value;
  for (size_t i = 0; i < w.n; ++i) {
    if (!cache->get(w.keys[i], &value).ok() || !(value == w.values[i])) ++mismatches;
  }
  if (mismatches == 0 && cache->size() == w.n) return "ok";
  return std::to_string(mismatches) + " of " + std::to_string(w.n) + " values wrong or missing, " +
         std::to_string(cache->size()) + " entries";
}

// Open a full cache, put 10 new values, save durably. Times the whole and the
// put + save part.
void rtcache_add_ten(const std::vector<std::string>& cubins, const Workload& w,
                     const fs::path& path, Variant variant, int run, Samples* add_samples,
                     Samples* open_add_samples) {
  std::vector<std::pair<std::string, rtcache::Bytes>> added;
  for (int j = 0; j < 10; ++j) {
    const uint64_t id = added_value_id(w.n, variant, run, j);
    added.emplace_back(make_key(id), rtcache::Bytes(make_value(cubins, id)));
  }
  const auto start = Clock::now();
  auto cache = open_cache(path, variant, add_samples);
  if (!cache) return;
  const auto add_start = Clock::now();
  for (const auto& [key, value] : added) cache->put(key, value, "sm_90 nvrtc 13.0");
  const rtcache::Status status = cache->save();
  if (!status.ok()) {
    add_samples->fail("save after adding 10: " + status.to_string());
    return;
  }
  add_samples->add(seconds_since(add_start));
  open_add_samples->add(seconds_since(start));
}

// ns per get of one key, from `threads` threads at once (each thread's own
// loop time divided by its gets; the slowest thread is reported).
double hit_latency_ns(rtcache::RuntimeCache& cache, const std::vector<std::string>& keys,
                      int threads, size_t gets_per_thread, bool* failed) {
  std::atomic<int> ready{0};
  std::atomic<bool> any_failed{false};
  std::vector<double> seconds(threads);
  auto loop = [&](int t) {
    rtcache::Bytes value;
    ready++;
    while (ready.load() < threads) {
    }
    const auto start = Clock::now();
    size_t k = 0;
    for (size_t i = 0; i < gets_per_thread; ++i) {
      if (!cache.get(keys[k], &value).ok()) any_failed = true;
      if (++k == keys.size()) k = 0;
    }
    seconds[t] = seconds_since(start);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(loop, t);
  for (std::thread& thread : pool) thread.join();
  *failed = any_failed;
  return *std::max_element(seconds.begin(), seconds.end()) * 1e9 / gets_per_thread;
}

// --- the report ------------------------------------------------------------------

struct SizeResults {
  Samples put_all[kVariants], save_all[kVariants];
  Samples get_all[kVariants], close_after_get_all[kVariants];
  Samples get_ten[kVariants];
  Samples add_ten[kVariants], open_add_ten[kVariants];
  Samples floor_write_raw, floor_write_zstd, floor_mmap_touch, floor_mmap_sum, floor_pread,
      floor_decompress, floor_pread_ten, floor_pread_decompress_ten, floor_append_ten,
      floor_append_4k;
  uint64_t file_bytes[kVariants] = {0, 0};
  uint64_t zstd_value_bytes = 0;
  std::string verified[kVariants];
  // Hit latency (ns per get), one handle on the zstd file.
  double hit_one_thread_ns = NAN, hit_two_threads_ns = NAN, hit_cycled_ns = NAN;
};

double ratio(const Samples& a, double floor_seconds) {
  return a.median() / floor_seconds;
}

void print_size_report(const Workload& w, const SizeResults& r, std::vector<Target>* targets) {
  const double raw_floor = r.floor_write_raw.median();
  const double zstd_floor = r.floor_write_zstd.median();
  const double mmap_floor = r.floor_mmap_sum.median();
  const double mmap_zstd_floor = mmap_floor + r.floor_decompress.median();
  const double append_floor = r.floor_append_ten.median();

  std::printf("### N = %s (raw values %s)\n\n", with_commas(w.n).c_str(),
              format_bytes(w.raw_bytes).c_str());
  std::printf(
      "| Workload | rtcache zstd-1 | rtcache none | Floor | Floor time | zstd-1 / floor "
      "| none / floor |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  auto row = [](const char* workload, const Samples& zstd, const Samples& none,
                const char* floor_name, double floor_zstd, double floor_none) {
    // "zstd floor / none floor" when they differ, else one figure.
    std::string floor_time;
    for (double floor_seconds : {floor_zstd, floor_none}) {
      if (std::isnan(floor_seconds) || (!floor_time.empty() && floor_zstd == floor_none)) continue;
      floor_time += (floor_time.empty() ? "" : " / ") + format_seconds(floor_seconds);
    }
    std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", workload, format_median(zstd).c_str(),
                format_median(none).c_str(), floor_name,
                floor_time.empty() ? "—" : floor_time.c_str(),
                format_ratio(ratio(zstd, floor_zstd)).c_str(),
                format_ratio(ratio(none, floor_none)).c_str());
  };
  row("save everything from empty, durable", r.save_all[kZstd], r.save_all[kNone],
      "write the raw bytes + fsync", raw_floor, raw_floor);
  const std::string compress_floor_name =
      "compress (zstd-1, " + std::to_string(compression_threads()) + " threads) + write + fsync";
  row("… same, zstd-1 against its own floor", r.save_all[kZstd], Samples(),
      compress_floor_name.c_str(), zstd_floor, NAN);
  row("open + get every value", r.get_all[kZstd], r.get_all[kNone],
      "mmap, read every byte (zstd: + decompress)", mmap_zstd_floor, mmap_floor);
  row("open + get 10 random values", r.get_ten[kZstd], r.get_ten[kNone],
      "open + pread 10 values (zstd: + decompress)", r.floor_pread_decompress_ten.median(),
      r.floor_pread_ten.median());
  row("add 10 values to the full cache + save, durable", r.add_ten[kZstd], r.add_ten[kNone],
      "append the 10 values + fsync", append_floor, append_floor);
  row("open + add 10 values + save, durable", r.open_add_ten[kZstd], r.open_add_ten[kNone],
      "append the 10 values + fsync", append_floor, append_floor);
  row("put N values (in memory, before the save)", r.put_all[kZstd], r.put_all[kNone], "—", NAN,
      NAN);
  row("drop the handle after get every value", r.close_after_get_all[kZstd],
      r.close_after_get_all[kNone], "—", NAN, NAN);
  std::printf("\n");

  std::printf("| Floor (same run) | Median |\n|---|---|\n");
  const std::pair<const char*, double> floors[] = {
      {"write the raw bytes to a new file + fsync", raw_floor},
      {compress_floor_name.c_str(), zstd_floor},
      {"mmap, touch one byte per page", r.floor_mmap_touch.median()},
      {"mmap, read every byte", mmap_floor},
      {"pread every value into one buffer", r.floor_pread.median()},
      {"zstd decompress every value (from memory, 1 thread)", r.floor_decompress.median()},
      {"mmap read every byte + zstd decompress", mmap_zstd_floor},
      {"open + pread 10 random values", r.floor_pread_ten.median()},
      {"open + pread 10 random values + zstd decompress them",
       r.floor_pread_decompress_ten.median()},
      {"append 10 values + fsync", append_floor},
      {"append 4 KB + fsync", r.floor_append_4k.median()},
  };
  for (const auto& [name, seconds] : floors)
    std::printf("| %s | %s |\n", name, format_seconds(seconds).c_str());
  std::printf("\n");

  std::printf("| Stored bytes | Size | Raw values / size |\n|---|---|---|\n");
  std::printf("| raw values | %s | 1.00x |\n", format_bytes(w.raw_bytes).c_str());
  const auto size_row = [&](const char* name, uint64_t bytes) {
    std::printf("| %s | %s | %s |\n", name, bytes ? format_bytes(bytes).c_str() : "error",
                bytes ? format_ratio(static_cast<double>(w.raw_bytes) / bytes).c_str() : "—");
  };
  size_row("rtcache file, none", r.file_bytes[kNone]);
  size_row("rtcache file, zstd-1", r.file_bytes[kZstd]);
  size_row("each value zstd-1 on its own (floor)", r.zstd_value_bytes);
  std::printf("\n");

  std::printf("| Repeated hit, warm process (zstd-1 file) | ns per get |\n|---|---|\n");
  std::printf("| same key, 1 thread | %s |\n", format_ns(r.hit_one_thread_ns).c_str());
  std::printf("| same key, 2 threads (each) | %s |\n", format_ns(r.hit_two_threads_ns).c_str());
  std::printf("| 1,000 keys in turn, 1 thread | %s |\n", format_ns(r.hit_cycled_ns).c_str());
  std::printf("\nValues verified after the save: zstd-1 %s; none %s.\n\n",
              r.verified[kZstd].c_str(), r.verified[kNone].c_str());

  if (w.n != 10'000 || targets == nullptr) return;
  auto add = [&](const std::string& name, double value, double limit, const std::string& shown) {
    const bool measured = !std::isnan(value);
    targets->push_back({name, measured ? shown : "error", measured && value <= limit});
  };
  for (int v = 0; v < kVariants; ++v) {
    const std::string tag = std::string(" (") + kVariantNames[v] + ")";
    const double floor_ten =
        v == kZstd ? r.floor_pread_decompress_ten.median() : r.floor_pread_ten.median();
    add("open + read 10 values < 0.5 ms" + tag, r.get_ten[v].median(), 0.5e-3,
        format_seconds(r.get_ten[v].median()) + " (floor " + format_seconds(floor_ten) + ")");
  }
  // rtcache against a floor: "1.23x (rtcache's time vs the floor's)".
  const auto add_ratio = [&](const std::string& name, const Samples& measured, double floor_seconds,
                             double limit) {
    const double value = ratio(measured, floor_seconds);
    add(name, value, limit,
        format_ratio(value) + " (" + format_seconds(measured.median()) + " vs " +
            format_seconds(floor_seconds) + ")");
  };
  for (int v = 0; v < kVariants; ++v) {
    const std::string tag = std::string(" (") + kVariantNames[v] + ")";
    add_ratio("add 10 + save ≤ 2x (append + fsync)" + tag, r.add_ten[v], append_floor, 2.0);
    add("add 10 + save < 7.6 ms (LMDB)" + tag, r.add_ten[v].median(), 7.6e-3,
        format_seconds(r.add_ten[v].median()));
  }
  add_ratio("read every value ≤ 1.2x mmap floor (none)", r.get_all[kNone], mmap_floor, 1.2);
  add_ratio("read every value ≤ 1.2x (mmap floor + decompress) (zstd-1)", r.get_all[kZstd],
            mmap_zstd_floor, 1.2);
  add_ratio("save everything ≤ 1.3x (write + fsync) (none)", r.save_all[kNone], raw_floor, 1.3);
  add_ratio("save everything ≤ 1.3x (write raw bytes + fsync) (zstd-1)", r.save_all[kZstd],
            raw_floor, 1.3);
  add_ratio("save everything ≤ 1.3x (compress + write + fsync) (zstd-1)", r.save_all[kZstd],
            zstd_floor, 1.3);
  add("repeated hit < 1 µs (1 thread)", r.hit_one_thread_ns, 1000,
      format_ns(r.hit_one_thread_ns) + " ns");
  add("repeated hit < 1 µs (2 threads)", r.hit_two_threads_ns, 1000,
      format_ns(r.hit_two_threads_ns) + " ns");
  // Larger is better here, so compare the inverse.
  const double shrink =
      r.file_bytes[kZstd] ? static_cast<double>(w.raw_bytes) / r.file_bytes[kZstd] : NAN;
  add("zstd file ≥ 4x smaller than the raw values", 1.0 / shrink, 1.0 / 4.0,
      format_ratio(shrink) + " smaller");
}

// --- driver ------------------------------------------------------------------------

using Config = CorpusBenchOptions;

SizeResults run_size(const Config& config, const std::vector<std::string>& cubins,
                     const Workload& w, const fs::path& dir) {
  SizeResults r;
  // Every run of the save workloads writes new files; the last run's are kept
  // for the read workloads.
  const auto run_path = [&dir](const std::string& stem, int run) {
    return dir / (stem + "-" + std::to_string(run));
  };
  const int last_run = config.runs - 1;
  const fs::path raw_floor_path = run_path("floor-raw", last_run);
  const fs::path zstd_floor_path = run_path("floor-zstd", last_run);
  const fs::path cache_path[kVariants] = {run_path("cache-zstd", last_run),
                                          run_path("cache-none", last_run)};

  // 1. Save everything from empty, interleaved with the write floors. After
  // each (untimed), the file is deleted unless it is the last run's, and the
  // file system synced, so every measurement starts from the same state.
  for (int run = 0; run < config.runs; ++run) {
    const auto settle = [&](const char* stem) {
      if (run != last_run) remove_cache_file(run_path(stem, run));
      ::sync();
    };
    const auto write_raw = [&] {
      r.floor_write_raw.add(floor_write_raw(w, run_path("floor-raw", run)));
      settle("floor-raw");
    };
    const auto write_zstd = [&] {
      r.floor_write_zstd.add(floor_write_compressed(w, run_path("floor-zstd", run)));
      settle("floor-zstd");
    };
    const auto save_zstd = [&] {
      rtcache_save_all(w, run_path("cache-zstd", run), kZstd, &r.put_all[kZstd],
                       &r.save_all[kZstd]);
      settle("cache-zstd");
    };
    const auto save_none = [&] {
      rtcache_save_all(w, run_path("cache-none", run), kNone, &r.put_all[kNone],
                       &r.save_all[kNone]);
      settle("cache-none");
    };
    run_rotated(run, {write_raw, write_zstd, save_zstd, save_none});
  }
  for (int v = 0; v < kVariants; ++v) {
    std::error_code error;
    r.file_bytes[v] = fs::exists(cache_path[v]) ? fs::file_size(cache_path[v], error) : 0;
    r.verified[v] = verify_cache(w, cache_path[v], static_cast<Variant>(v));
  }
  // Same bytes and order as the compressed floor file (zstd is deterministic).
  const CompressedValues compressed = compress_values(w, 1);
  r.zstd_value_bytes = compressed.total_bytes;

  // 2. Read every value (the verify pass above warmed the page cache).
  std::vector<uint64_t> all(w.n);
  for (uint64_t i = 0; i < w.n; ++i) all[i] = i;
  const auto mmap_touch = [&] { r.floor_mmap_touch.add(floor_mmap_touch_pages(raw_floor_path)); };
  const auto mmap_sum = [&] { r.floor_mmap_sum.add(floor_mmap_sum(w, raw_floor_path)); };
  const auto pread_every = [&] { r.floor_pread.add(floor_pread_all(w, raw_floor_path)); };
  const auto decompress = [&] { r.floor_decompress.add(floor_decompress_all(w, compressed)); };
  const auto get_all_zstd = [&] {
    rtcache_open_get(w, cache_path[kZstd], kZstd, all, &r.get_all[kZstd],
                     &r.close_after_get_all[kZstd]);
  };
  const auto get_all_none = [&] {
    rtcache_open_get(w, cache_path[kNone], kNone, all, &r.get_all[kNone],
                     &r.close_after_get_all[kNone]);
  };
  for (int run = 0; run < config.runs; ++run) {
    run_rotated(run, {mmap_touch, mmap_sum, pread_every, decompress, get_all_zstd, get_all_none});
  }

  // 3. Open + read 10 random values (different ones each run).
  std::mt19937_64 rng(42 + w.n);
  for (int run = 0; run < config.fast_runs; ++run) {
    const std::vector<uint64_t> picked = random_ids(rng, w.n, 10);
    const auto pread_ten = [&] {
      r.floor_pread_ten.add(floor_open_pread_some(w, raw_floor_path, picked));
    };
    const auto pread_decompress_ten = [&] {
      r.floor_pread_decompress_ten.add(
          floor_open_pread_decompress_some(w, compressed, zstd_floor_path, picked));
    };
    const auto get_ten_zstd = [&] {
      rtcache_open_get(w, cache_path[kZstd], kZstd, picked, &r.get_ten[kZstd]);
    };
    const auto get_ten_none = [&] {
      rtcache_open_get(w, cache_path[kNone], kNone, picked, &r.get_ten[kNone]);
    };
    run_rotated(run, {pread_ten, pread_decompress_ten, get_ten_zstd, get_ten_none});
  }

  // 4. Repeated hits in a warm process: one handle, values already read once.
  {
    Samples open_error;
    auto cache = open_cache(cache_path[kZstd], kZstd, &open_error);
    if (cache) {
      std::vector<std::string> cycled(w.keys.begin(), w.keys.begin() + std::min<size_t>(1000, w.n));
      rtcache::Bytes warm;
      for (const std::string& key : cycled) (void)cache->get(key, &warm);
      bool failed = false;
      const std::vector<std::string> one_key = {w.keys[0]};
      r.hit_one_thread_ns = hit_latency_ns(*cache, one_key, 1, 2'000'000, &failed);
      r.hit_two_threads_ns = hit_latency_ns(*cache, one_key, 2, 2'000'000, &failed);
      r.hit_cycled_ns = hit_latency_ns(*cache, cycled, 1, 2'000'000, &failed);
      if (failed) {
        std::fprintf(stderr, "store_bench: a repeated get failed\n");
        r.hit_one_thread_ns = r.hit_two_threads_ns = r.hit_cycled_ns = NAN;
      }
    }
  }

  // 5. Add 10 values to the full store + durable save, with the append floors.
  ::sync();
  const std::string four_kb(4096, 'x');
  for (int run = 0; run < config.fast_runs; ++run) {
    std::vector<std::string> floor_values;
    for (int j = 0; j < 10; ++j)
      floor_values.push_back(make_value(cubins, added_value_id(w.n, kVariants, run, j)));
    const std::vector<std::string_view> chunks(floor_values.begin(), floor_values.end());
    const auto append_ten = [&] { r.floor_append_ten.add(floor_append(raw_floor_path, chunks)); };
    const auto append_4k = [&] { r.floor_append_4k.add(floor_append(zstd_floor_path, {four_kb})); };
    const auto add_ten_zstd = [&] {
      rtcache_add_ten(cubins, w, cache_path[kZstd], kZstd, run, &r.add_ten[kZstd],
                      &r.open_add_ten[kZstd]);
    };
    const auto add_ten_none = [&] {
      rtcache_add_ten(cubins, w, cache_path[kNone], kNone, run, &r.add_ten[kNone],
                      &r.open_add_ten[kNone]);
    };
    run_rotated(run, {append_ten, append_4k, add_ten_zstd, add_ten_none});
  }

  for (const fs::path& path : {raw_floor_path, zstd_floor_path}) fs::remove(path);
  for (int v = 0; v < kVariants; ++v) remove_cache_file(cache_path[v]);
  ::sync();
  return r;
}

std::string filesystem_type(const fs::path& path) {
  struct statfs info;
  if (::statfs(path.c_str(), &info) != 0) return "unknown";
  static const std::map<long, std::string> kNames = {
      {0xEF53, "ext4"},          {0x58465342, "xfs"}, {0x9123683E, "btrfs"}, {0x01021994, "tmpfs"},
      {0x794C7630, "overlayfs"}, {0x6969, "nfs"},     {0x2FC12FC1, "zfs"},   {0xF2F52010, "f2fs"}};
  const auto it = kNames.find(static_cast<long>(info.f_type));
  if (it != kNames.end()) return it->second;
  char hex[32];
  std::snprintf(hex, sizeof(hex), "0x%lx", static_cast<long>(info.f_type));
  return hex;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app(
      "rtcache against the hardware floors, in-process, on the corpus's cubins; prints "
      "markdown tables.",
      "store_bench");
  add_corpus_bench_options(app, &config)->required();
  if (const std::optional<int> exit_status = bundled::parse_command_line(app, argc, argv))
    return *exit_status;
  const std::vector<std::string> cubins = load_corpus(config.corpus_dir);
  if (cubins.empty()) {
    std::fprintf(stderr, "store_bench: no .cubin files in %s\n", config.corpus_dir.c_str());
    return 1;
  }
  std::string dir_template = (config.tmp_root / "rtcache-bench-XXXXXX").string();
  if (::mkdtemp(dir_template.data()) == nullptr) die("mkdtemp " + dir_template);
  const fs::path dir = dir_template;
  g_temp_dir = dir;

  size_t smallest = SIZE_MAX, largest = 0, total = 0;
  for (const std::string& cubin : cubins) {
    smallest = std::min(smallest, cubin.size());
    largest = std::max(largest, cubin.size());
    total += cubin.size();
  }
  std::printf(
      "Corpus: %zu distinct NVRTC cubins, %s to %s, average %s; value i = cubin (i mod %zu) + "
      "a 16-byte nonce; keys are 32 bytes. Medians of %d runs (%d for the 10-value "
      "operations), in-process wall time, page cache warm; the operations of one round run in "
      "rotating order. \"fsync\" is fdatasync of the file (plus fsync of its directory when the "
      "file is new), for rtcache and the floors alike. The mmap floor reads every byte of every "
      "value once, as a get that verifies a checksum must. Temp dir on %s.\n\n",
      cubins.size(), format_bytes(smallest).c_str(), format_bytes(largest).c_str(),
      format_bytes(total / cubins.size()).c_str(), cubins.size(), config.runs, config.fast_runs,
      filesystem_type(dir).c_str());
  std::fflush(stdout);

  std::vector<Target> targets;
  for (size_t n : config.sizes) {
    const auto start = Clock::now();
    SizeResults results;
    Workload workload;
    {
      workload = make_workload(cubins, n);
      results = run_size(config, cubins, workload, dir);
    }
    print_size_report(workload, results, &targets);
    std::fprintf(stderr, "store_bench: N = %zu done in %.1f s\n", n, seconds_since(start));
    std::fflush(stdout);
  }

  if (!targets.empty()) {
    std::printf("### Targets at N = 10,000 (core issue)\n\n");
    print_targets("Target", targets);
  }
  struct rusage usage;
  ::getrusage(RUSAGE_SELF, &usage);
  std::printf("Peak RSS of the benchmark process: %.0f MB.\n\n", usage.ru_maxrss / 1024.0);

  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return 0;
}

// peer_bench: rtcache against its peers and the hardware floors, workload by
// workload, each measured as whole processes (issue 7).
//
// Stores (kv_store.h): rtcache zstd-1 (its default) and uncompressed, SQLite,
// LMDB, a directory with a file per entry, a whole blob under a lock file.
// Values are the corpus's real NVRTC cubins, each with a unique 16-byte
// nonce; keys are 32 bytes. For N = 1,000 and 10,000 entries:
//   1. save everything into an empty store;
//   2. a new process opens the store and reads every value;
//   3. a new process opens the store and reads 10 random values;
//   4. a new process adds 10 values to the full store;
//   5. 4 processes each add 100 values at once;
//   6. a hit's latency in a warm process (Google Benchmark, 1 and 2 threads).
// Workloads 1-5 run in child processes (this binary, fork + exec, --child):
// the parent measures each child's whole wall time (fork to reaped); the
// child reports its own in-process time (open the store, do the work, close
// it) and its peak RSS (VmHWM). Floors run the same way: writing the bytes + one
// fsync; reading them from the page cache (mmap, pread); appending them + one
// fsync; a 4 KB append + fsync; starting a process that does nothing.
// Every round runs every store and floor, in rotating order. It prints
// markdown tables and marks issue 7's targets met or missed; it asserts
// nothing (a failure shows up as "error").
//
// Usage: peer_bench --corpus DIR [--sizes 1000,10000] [--runs 5] [--fast-runs 15]
//                   [--slow-runs 3] [--stores rtcache-zstd,sqlite,...] [--tmpdir DIR]
//                   [--keep-files]   (--help says more)

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_cli.h"
#include "bench_common.h"
#include "kernels/cli.h"
#include "kv_store.h"

namespace {

namespace fs = std::filesystem;
using namespace bench;

// --- the values --------------------------------------------------------------
//
// The parent writes every value the benchmark uses for one N (ids 0..N-1 for
// the store, then the ids workloads 4 and 5 add) into one file, values-N.bin,
// with their offsets in values-N.idx. Children map it: a writer hands the
// mapped bytes to the store (an application has its kernels in memory), and
// the read floors read the same bytes from the page cache.

// Writes values 0..count-1 and their offsets; durable, so the benchmark's
// writes do not share the disk with this file's writeback.
bool write_values_file(const std::vector<std::string>& cubins, uint64_t count,
                       const std::string& base, std::string* error) {
  std::vector<uint64_t> offsets = {0};
  const int fd = ::open((base + ".bin").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = errno_text("create " + base + ".bin");
    return false;
  }
  std::string chunk;
  bool ok = true;
  for (uint64_t id = 0; id < count && ok; ++id) {
    append_value(cubins, id, &chunk);
    offsets.push_back(offsets.back() + cubins[id % cubins.size()].size() + kNonceBytes);
    if (chunk.size() > (8u << 20) || id + 1 == count) {
      ok = write_all(fd, chunk.data(), chunk.size(), error);
      chunk.clear();
    }
  }
  if (ok && ::fdatasync(fd) != 0) {
    *error = errno_text("fdatasync");
    ok = false;
  }
  ::close(fd);
  if (!ok) return false;
  std::ofstream idx(base + ".idx", std::ios::binary | std::ios::trunc);
  idx.write(reinterpret_cast<const char*>(offsets.data()),
            static_cast<std::streamsize>(offsets.size() * sizeof(uint64_t)));
  idx.close();
  if (!idx) *error = "write " + base + ".idx failed";
  return static_cast<bool>(idx);
}

// The values file, mapped read-only; keeps the mapping alive for Bytes that
// point into it.
class MappedValues {
 public:
  bool open(const std::string& base, std::string* error) {
    std::ifstream idx(base + ".idx", std::ios::binary);
    idx.seekg(0, std::ios::end);
    const auto idx_bytes = static_cast<size_t>(idx.tellg());
    idx.seekg(0);
    offsets_.resize(idx_bytes / sizeof(uint64_t));
    idx.read(reinterpret_cast<char*>(offsets_.data()), static_cast<std::streamsize>(idx_bytes));
    if (!idx || offsets_.empty()) {
      *error = "read " + base + ".idx failed";
      return false;
    }
    const int fd = ::open((base + ".bin").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *error = errno_text("open " + base + ".bin");
      return false;
    }
    const size_t size = offsets_.back();
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) {
      *error = errno_text("mmap " + base + ".bin");
      return false;
    }
    mapping_ = std::shared_ptr<const void>(
        map, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
    return true;
  }
  uint64_t count() const { return offsets_.size() - 1; }
  // Whether every id is in the file (a child given another size's ids fails).
  bool has_all(const std::vector<uint64_t>& ids) const {
    return std::all_of(ids.begin(), ids.end(), [&](uint64_t id) { return id < count(); });
  }
  uint64_t offset(uint64_t id) const { return offsets_[id]; }
  uint64_t size(uint64_t id) const { return offsets_[id + 1] - offsets_[id]; }
  const char* base() const { return static_cast<const char*>(mapping_.get()); }
  std::string_view value(uint64_t id) const { return {base() + offset(id), size(id)}; }
  // Bytes aliasing the mapping: the store gets the value without a copy.
  rtcache::Bytes bytes(uint64_t id) const {
    return rtcache::Bytes(mapping_, base() + offset(id), size(id));
  }

 private:
  std::vector<uint64_t> offsets_;
  std::shared_ptr<const void> mapping_;
};

// A comma-separated list of ids and ranges: "A-B" is the ids A..B-1.
std::vector<uint64_t> parse_ids(const std::string& text) {
  std::vector<uint64_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t dash = item.find('-');
    if (dash == std::string::npos) {
      ids.push_back(std::stoull(item));
      continue;
    }
    const uint64_t end = std::stoull(item.substr(dash + 1));
    for (uint64_t id = std::stoull(item.substr(0, dash)); id < end; ++id) ids.push_back(id);
  }
  return ids;
}

std::string id_range(uint64_t first, uint64_t end) {
  return std::to_string(first) + "-" + std::to_string(end);
}

// --- child processes -----------------------------------------------------------

struct ChildArgs {
  std::string mode;
  StoreKind kind = StoreKind::kRtcacheZstd;
  std::string path;      // the store, or the floor's file
  std::string values;    // base name of the values file
  std::string ids_text;  // as on the command line (see parse_ids)
  std::vector<uint64_t> ids;
  double min_time = 0.05;  // Google Benchmark, per repetition
};

// Sums every byte it is given and counts the hits.
class SummingConsumer final : public ValueConsumer {
 public:
  void consume(size_t /*index*/, std::string_view value) override {
    sum += sum_words(value.data(), value.size());
    ++hits;
  }
  uint64_t sum = 0;
  size_t hits = 0;
};

// Compares every value it is given with the expected bytes.
class VerifyingConsumer final : public ValueConsumer {
 public:
  VerifyingConsumer(const MappedValues& values, const std::vector<uint64_t>& ids)
      : values_(values), ids_(ids) {}
  void consume(size_t index, std::string_view value) override {
    ++found;
    if (value != values_.value(ids_[index])) ++wrong;
  }
  size_t found = 0, wrong = 0;

 private:
  const MappedValues& values_;
  const std::vector<uint64_t>& ids_;
};

// The child's report: its in-process time and its own peak RSS.
void print_done(Clock::time_point start, const std::string& extra = "") {
  const double in_s = seconds_since(start);
  std::printf("in_s=%.9f hwm_kb=%ld%s%s\n", in_s, peak_rss_kb(), extra.empty() ? "" : " ",
              extra.c_str());
}

int child_put(const ChildArgs& a) {
  std::string error;
  MappedValues values;
  if (!values.open(a.values, &error)) return child_fail(error);
  if (!values.has_all(a.ids)) return child_fail("ids beyond the values file");
  std::vector<Entry> entries;
  entries.reserve(a.ids.size());
  for (uint64_t id : a.ids) entries.push_back({make_key(id), values.bytes(id)});
  const auto start = Clock::now();
  {
    std::unique_ptr<KvStore> store = open_store(a.kind, a.path, &error);
    if (!store) return child_fail(error);
    if (!store->put_batch(entries, &error)) return child_fail(error);
  }
  print_done(start);
  return 0;
}

int child_get(const ChildArgs& a) {
  std::vector<std::string> keys;
  keys.reserve(a.ids.size());
  for (uint64_t id : a.ids) keys.push_back(make_key(id));
  std::string error;
  SummingConsumer consumer;
  const auto start = Clock::now();
  {
    std::unique_ptr<KvStore> store = open_store(a.kind, a.path, &error);
    if (!store) return child_fail(error);
    if (!store->get_batch(keys, consumer, &error)) return child_fail(error);
  }
  print_done(start,
             "hits=" + std::to_string(consumer.hits) + " sum=" + std::to_string(consumer.sum));
  return consumer.hits == keys.size()
             ? 0
             : child_fail("only " + std::to_string(consumer.hits) + " of " +
                          std::to_string(keys.size()) + " keys found");
}

int child_verify(const ChildArgs& a) {
  std::string error;
  MappedValues values;
  if (!values.open(a.values, &error)) return child_fail(error);
  if (!values.has_all(a.ids)) return child_fail("ids beyond the values file");
  std::vector<std::string> keys;
  for (uint64_t id : a.ids) keys.push_back(make_key(id));
  VerifyingConsumer consumer(values, a.ids);
  std::unique_ptr<KvStore> store = open_store(a.kind, a.path, &error);
  if (!store) return child_fail(error);
  if (!store->get_batch(keys, consumer, &error)) return child_fail(error);
  std::printf("found=%zu wrong=%zu missing=%zu\n", consumer.found, consumer.wrong,
              keys.size() - consumer.found);
  return 0;
}

// Floor: write the values (one contiguous range of the values file) to a new
// file, fdatasync it, fsync the directory.
int child_floor_write(const ChildArgs& a) {
  std::string error;
  MappedValues values;
  if (!values.open(a.values, &error)) return child_fail(error);
  if (a.ids.empty() || !values.has_all(a.ids)) return child_fail("ids beyond the values file");
  const uint64_t first = a.ids.front(), last = a.ids.back();
  const auto start = Clock::now();
  const int fd = ::open(a.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return child_fail(errno_text("create " + a.path));
  bool ok = write_all(fd, values.base() + values.offset(first),
                      values.offset(last) + values.size(last) - values.offset(first), &error);
  if (ok && ::fdatasync(fd) != 0) ok = false, error = errno_text("fdatasync");
  ::close(fd);
  if (ok) ok = fsync_directory(fs::path(a.path).parent_path().string(), &error);
  if (!ok) return child_fail(error);
  print_done(start);
  return 0;
}

// Floor: append the values (contiguous) to an existing file + one fdatasync.
// With an empty id list, appends 4 KB instead (the cost of one small fsync).
int child_floor_append(const ChildArgs& a) {
  std::string error;
  MappedValues values;
  const std::string four_kb(4096, 'x');
  if (!a.ids.empty() && !values.open(a.values, &error)) return child_fail(error);
  if (!a.ids.empty() && !values.has_all(a.ids)) return child_fail("ids beyond the values file");
  const auto start = Clock::now();
  const int fd = ::open(a.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return child_fail(errno_text("open " + a.path));
  bool ok;
  if (a.ids.empty()) {
    ok = write_all(fd, four_kb.data(), four_kb.size(), &error);
  } else {
    const uint64_t first = a.ids.front(), last = a.ids.back();
    ok = write_all(fd, values.base() + values.offset(first),
                   values.offset(last) + values.size(last) - values.offset(first), &error);
  }
  if (ok && ::fdatasync(fd) != 0) ok = false, error = errno_text("fdatasync");
  ::close(fd);
  if (!ok) return child_fail(error);
  print_done(start);
  return 0;
}

// Floor: map the values file and read every byte of the given values (no
// copy: the least a reader that hands each byte to a consumer can do).
int child_floor_mmap(const ChildArgs& a) {
  std::string error;
  const auto start = Clock::now();
  MappedValues values;
  if (!values.open(a.values, &error)) return child_fail(error);
  if (!values.has_all(a.ids)) return child_fail("ids beyond the values file");
  uint64_t sum = 0;
  for (uint64_t id : a.ids) sum += sum_words(values.base() + values.offset(id), values.size(id));
  print_done(start, "sum=" + std::to_string(sum));
  return 0;
}

// Floor: open the values file and pread the given values (one buffer).
int child_floor_pread(const ChildArgs& a) {
  const auto start = Clock::now();
  std::string error;
  std::ifstream idx(a.values + ".idx", std::ios::binary);
  std::vector<uint64_t> offsets;
  {
    // Only the offsets needed (the index of a real store is read the same way).
    for (uint64_t id : a.ids) {
      uint64_t pair[2];
      idx.seekg(static_cast<std::streamoff>(id * sizeof(uint64_t)));
      idx.read(reinterpret_cast<char*>(pair), sizeof(pair));
      offsets.push_back(pair[0]);
      offsets.push_back(pair[1]);
    }
  }
  if (!idx) return child_fail("read index");
  const int fd = ::open((a.values + ".bin").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return child_fail(errno_text("open values"));
  std::string buffer;
  uint64_t sum = 0;
  for (size_t i = 0; i < a.ids.size(); ++i) {
    const size_t size = offsets[2 * i + 1] - offsets[2 * i];
    buffer.resize(size);
    if (::pread(fd, buffer.data(), size, static_cast<off_t>(offsets[2 * i])) !=
        static_cast<ssize_t>(size)) {
      ::close(fd);
      return child_fail(errno_text("pread"));
    }
    sum += sum_words(buffer.data(), size);
  }
  ::close(fd);
  print_done(start, "sum=" + std::to_string(sum));
  return 0;
}

// Google Benchmark results: the median of the repetitions, per thread count.
class MedianReporter final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Aggregate || run.aggregate_name != "median") continue;
      // Google Benchmark divides the wall time by the iterations of all
      // threads together; times the threads, it is each thread's latency.
      std::printf("threads=%lld ns=%.3f error=%d\n", static_cast<long long>(run.threads),
                  run.GetAdjustedRealTime() * static_cast<double>(run.threads),
                  run.error_occurred ? 1 : 0);
    }
  }
  void Finalize() override {}
};

// Workload 6: the latency of a repeated hit on one key in a warm process.
int child_hits(const ChildArgs& a) {
  std::string error;
  std::unique_ptr<KvStore> store = open_store(a.kind, a.path, &error);
  if (!store) return child_fail(error);
  const std::string key = make_key(a.ids.front());
  uint64_t sink = 0;
  if (!store->get_one(key, &sink)) return child_fail("the key is not in the store");
  std::atomic<bool> missed{false};
  benchmark::RegisterBenchmark("hit",
                               [&](benchmark::State& state) {
                                 uint64_t local = 0;
                                 store->get_one(key, &local);  // per-thread setup (connections)
                                 for (auto _ : state) {
                                   if (!store->get_one(key, &local)) missed = true;
                                 }
                                 benchmark::DoNotOptimize(local);
                               })
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime()
      ->MinTime(a.min_time)
      ->Repetitions(5)
      ->ReportAggregatesOnly(true);
  MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  return missed ? child_fail("a repeated get missed") : 0;
}

int child_main(const ChildArgs& a) {
  if (a.mode == "noop") {
    print_done(Clock::now());
    return 0;
  }
  if (a.mode == "put") return child_put(a);
  if (a.mode == "get") return child_get(a);
  if (a.mode == "verify") return child_verify(a);
  if (a.mode == "floor-write") return child_floor_write(a);
  if (a.mode == "floor-append") return child_floor_append(a);
  if (a.mode == "floor-mmap") return child_floor_mmap(a);
  if (a.mode == "floor-pread") return child_floor_pread(a);
  if (a.mode == "hits") return child_hits(a);
  return child_fail("unknown child mode " + a.mode);
}

// --- the parent: workloads ---------------------------------------------------------

enum Workload { kSaveAll, kReadAll, kReadTen, kAddTen, kConcurrentAdd, kWorkloads };

const char* const kWorkloadNames[kWorkloads] = {
    "1. save everything into an empty store",
    "2. new process: open + read every value",
    "3. new process: open + read 10 random values",
    "4. new process: open + add 10 values (durable)",
    "5. 4 processes each add 100 values at once",
};

const char* const kFloorNames[kWorkloads] = {
    "write the bytes to a new file + fsync",
    "mmap the bytes, read every byte",
    "open + pread the 10 values",
    "append the 10 values + fsync",
    "4 processes each append 100 values + fsync",
};

constexpr int kConcurrentProcesses = 4;
constexpr int kConcurrentValues = 100;
constexpr int kAddedValues = 10;
constexpr int kStoreCount = std::size(kAllStores);

int store_index(StoreKind kind) {
  for (int i = 0; i < kStoreCount; ++i)
    if (kAllStores[i] == kind) return i;
  return 0;
}

// One measured thing: whole-process wall time, the child's in-process time,
// its peak RSS (MB).
struct Cell {
  Samples whole, in, rss_mb;
};

void record(Cell* cell, const ChildResult& result) {
  if (!result.ok) {
    cell->whole.fail(result.error);
    cell->in.fail(result.error);
    return;
  }
  const double in_s = output_field(result.output, "in_s");
  if (std::isnan(in_s)) {
    cell->whole.fail("no in_s in the child's output: " + result.output);
    return;
  }
  cell->whole.add(result.wall_s);
  cell->in.add(in_s);
  cell->rss_mb.add(child_rss_mb(result));
}

struct SizeResults {
  uint64_t n = 0;
  uint64_t raw_bytes = 0;  // of values 0..N-1
  Cell store[kWorkloads][kStoreCount];
  Cell floor[kWorkloads];
  Cell fsync_4k;
  Cell process_start;
  double hit_ns[kStoreCount][2];  // [store][threads - 1]
  uint64_t disk_bytes[kStoreCount] = {};
  std::string verified_after_save[kStoreCount];
  std::string verified_at_end[kStoreCount];
};

struct Config : CorpusBenchOptions {
  // At N >= 10,000 two peers take tens of seconds per round on some
  // workloads: the whole blob rewrites ~640 MB on every save (workloads 4
  // and 5), and the file-per-entry store fsyncs 10,000 files (workload 1).
  // Those cells run at most this many rounds, to keep `make bench` inside
  // its time budget.
  int slow_runs = 3;
  std::vector<StoreKind> stores = {std::begin(kAllStores), std::end(kAllStores)};
  std::string exe;
  bool keep_files = false;  // leave the stores behind (for profiling them)
};

class Runner {
 public:
  Runner(const Config& config, const fs::path& dir, uint64_t n)
      : config_(config), dir_(dir), n_(n), values_base_((dir / "values").string()) {}

  SizeResults run(const std::vector<std::string>& cubins);

 private:
  std::vector<std::string> child_args(const std::string& mode, const std::string& ids) const {
    return {config_.exe, "--child", mode, "--values", values_base_, "--ids", ids};
  }
  std::vector<std::string> store_args(const std::string& mode, StoreKind kind,
                                      const std::string& ids) const {
    std::vector<std::string> args = child_args(mode, ids);
    args.insert(args.end(), {"--store", store_id(kind), "--path", store_path(kind)});
    return args;
  }
  std::vector<std::string> floor_args(const std::string& mode, const std::string& ids) const {
    std::vector<std::string> args = child_args(mode, ids);
    args.insert(args.end(), {"--path", floor_path()});
    return args;
  }
  std::string store_path(StoreKind kind) const { return (dir_ / store_id(kind)).string(); }
  std::string floor_path() const { return (dir_ / "floor.bin").string(); }

  // A put of `ids` into the store, remembered for the final check.
  ChildResult put(StoreKind kind, const std::string& ids) {
    std::string& written = written_[store_index(kind)];
    written += (written.empty() ? "" : ",") + ids;
    return run_child(store_args("put", kind, ids));
  }

  // Runs the commands at once (workload 5): the wall time until all are
  // reaped, the slowest child's in-process time, the largest peak RSS.
  static void record_concurrent(Cell* cell, const std::vector<std::vector<std::string>>& commands) {
    const auto start = Clock::now();
    std::vector<RunningChild> children;
    for (const auto& command : commands) children.push_back(start_child(command));
    double slowest_in = 0, largest_rss = 0;
    std::string error;
    for (RunningChild& child : children) {
      const ChildResult result = finish_child(child);
      if (!result.ok) error = result.error;
      slowest_in = std::max(slowest_in, output_field(result.output, "in_s"));
      largest_rss = std::max(largest_rss, child_rss_mb(result));
    }
    const double wall = seconds_since(start);
    if (!error.empty()) {
      cell->whole.fail(error);
      cell->in.fail(error);
      return;
    }
    cell->whole.add(wall);
    cell->in.add(slowest_in);
    cell->rss_mb.add(largest_rss);
  }

  // Checks that the store returns every id in `ids`, byte for byte.
  std::string verify(StoreKind kind, const std::string& ids) const {
    const ChildResult result = run_child(store_args("verify", kind, ids));
    if (!result.ok) return "error: " + result.error;
    const double found = output_field(result.output, "found");
    const double wrong = output_field(result.output, "wrong");
    const double missing = output_field(result.output, "missing");
    if (missing == 0 && wrong == 0)
      return "all " + with_commas(static_cast<uint64_t>(found)) + " ok";
    char text[160];
    std::snprintf(text, sizeof(text), "**%.0f missing, %.0f wrong** of %.0f", missing, wrong,
                  found + missing);
    return text;
  }

  int runs_for(Workload workload, StoreKind kind) const {
    const bool slow =
        n_ >= 10'000 &&
        ((kind == StoreKind::kWholeBlob && (workload == kAddTen || workload == kConcurrentAdd)) ||
         (kind == StoreKind::kFilePerEntry && workload == kSaveAll));
    return slow ? std::min(config_.runs, config_.slow_runs) : config_.runs;
  }

  // One step per store, for run_rotated.
  std::vector<std::function<void()>> store_steps(const std::function<void(StoreKind)>& step) {
    std::vector<std::function<void()>> steps;
    for (StoreKind kind : config_.stores) steps.push_back([step, kind] { step(kind); });
    return steps;
  }

  void log_progress(const char* what, Clock::time_point start) const {
    std::fprintf(stderr, "peer_bench: N = %s: %s done in %.1f s\n", with_commas(n_).c_str(), what,
                 seconds_since(start));
  }

  const Config& config_;
  fs::path dir_;
  uint64_t n_;
  std::string values_base_;
  std::string written_[kStoreCount];  // ids put into each store
};

SizeResults Runner::run(const std::vector<std::string>& cubins) {
  SizeResults r;
  r.n = n_;
  for (auto& per_store : r.hit_ns) per_store[0] = per_store[1] = NAN;
  const int runs = config_.runs;
  // Ids: 0..N-1 fill the store; workload 4 adds 10 per round after them, then
  // workload 5 adds 4 x 100 per round.
  const uint64_t add_ten_first = n_;
  const uint64_t concurrent_first = add_ten_first + uint64_t{kAddedValues} * runs;
  const uint64_t total_ids =
      concurrent_first + uint64_t{kConcurrentProcesses} * kConcurrentValues * runs;
  std::string error;
  if (!write_values_file(cubins, total_ids, values_base_, &error)) {
    std::fprintf(stderr, "peer_bench: %s\n", error.c_str());
    std::exit(1);
  }
  for (uint64_t id = 0; id < n_; ++id)
    r.raw_bytes += cubins[id % cubins.size()].size() + kNonceBytes;
  ::sync();
  const std::string all_ids = id_range(0, n_);

  // 1. Save everything into an empty store. Each round's result is removed
  // (untimed) and the file system synced, except the last round's, which the
  // later workloads use.
  auto phase = Clock::now();
  for (int run = 0; run < runs; ++run) {
    const bool keep = run == runs - 1;
    std::vector<std::function<void()>> steps;
    steps.push_back([&] {
      ::unlink(floor_path().c_str());
      record(&r.floor[kSaveAll], run_child(floor_args("floor-write", all_ids)));
      if (!keep) ::unlink(floor_path().c_str());
      ::sync();
    });
    for (auto& step : store_steps([&](StoreKind kind) {
           // A capped store skips the first rounds, so its last round is kept.
           if (run < runs - runs_for(kSaveAll, kind)) return;
           remove_store(kind, store_path(kind));
           written_[store_index(kind)].clear();
           record(&r.store[kSaveAll][store_index(kind)], put(kind, all_ids));
           if (!keep) remove_store(kind, store_path(kind));
           ::sync();
         }))
      steps.push_back(std::move(step));
    run_rotated(run, steps);
  }
  log_progress("workload 1", phase);
  for (StoreKind kind : config_.stores) {
    const int i = store_index(kind);
    r.disk_bytes[i] = store_disk_bytes(kind, store_path(kind));
    r.verified_after_save[i] = verify(kind, all_ids);  // also warms the page cache
  }

  // 2. A new process reads every value.
  phase = Clock::now();
  for (int run = 0; run < runs; ++run) {
    std::vector<std::function<void()>> steps;
    steps.push_back(
        [&] { record(&r.floor[kReadAll], run_child(child_args("floor-mmap", all_ids))); });
    for (auto& step : store_steps([&](StoreKind kind) {
           record(&r.store[kReadAll][store_index(kind)],
                  run_child(store_args("get", kind, all_ids)));
         }))
      steps.push_back(std::move(step));
    run_rotated(run, steps);
  }
  log_progress("workload 2", phase);

  // 3. A new process reads 10 random values (different ones each round, the
  // same for every store in a round); the process-start floor rides along.
  phase = Clock::now();
  std::mt19937_64 rng(42 + n_);
  for (int run = 0; run < config_.fast_runs; ++run) {
    const std::vector<uint64_t> picked = random_ids(rng, n_, kAddedValues);
    std::string ids;
    for (uint64_t id : picked) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    std::vector<std::function<void()>> steps;
    steps.push_back([&] { record(&r.process_start, run_child(child_args("noop", "0"))); });
    steps.push_back([&] { record(&r.floor[kReadTen], run_child(child_args("floor-pread", ids))); });
    for (auto& step : store_steps([&](StoreKind kind) {
           record(&r.store[kReadTen][store_index(kind)], run_child(store_args("get", kind, ids)));
         }))
      steps.push_back(std::move(step));
    run_rotated(run, steps);
  }
  log_progress("workload 3", phase);

  // 4. A new process adds 10 values to the full store, durably.
  phase = Clock::now();
  for (int run = 0; run < runs; ++run) {
    const uint64_t first = add_ten_first + uint64_t{kAddedValues} * run;
    const std::string ids = id_range(first, first + kAddedValues);
    std::vector<std::function<void()>> steps;
    steps.push_back([&] { record(&r.floor[kAddTen], run_child(floor_args("floor-append", ids))); });
    // No ids: the child appends 4 KB.
    steps.push_back([&] { record(&r.fsync_4k, run_child(floor_args("floor-append", ""))); });
    for (auto& step : store_steps([&](StoreKind kind) {
           if (run >= runs_for(kAddTen, kind)) return;
           record(&r.store[kAddTen][store_index(kind)], put(kind, ids));
         }))
      steps.push_back(std::move(step));
    run_rotated(run, steps);
  }
  log_progress("workload 4", phase);

  // 5. 4 processes each add 100 values at once.
  phase = Clock::now();
  for (int run = 0; run < runs; ++run) {
    const uint64_t first =
        concurrent_first + uint64_t{kConcurrentProcesses} * kConcurrentValues * run;
    std::vector<std::string> id_ranges;
    for (int p = 0; p < kConcurrentProcesses; ++p) {
      const uint64_t begin = first + uint64_t{kConcurrentValues} * p;
      id_ranges.push_back(id_range(begin, begin + kConcurrentValues));
    }
    std::vector<std::function<void()>> steps;
    steps.push_back([&] {
      std::vector<std::vector<std::string>> commands;
      for (const std::string& ids : id_ranges) commands.push_back(floor_args("floor-append", ids));
      record_concurrent(&r.floor[kConcurrentAdd], commands);
    });
    for (auto& step : store_steps([&](StoreKind kind) {
           if (run >= runs_for(kConcurrentAdd, kind)) return;
           std::vector<std::vector<std::string>> commands;
           std::string& written = written_[store_index(kind)];
           for (const std::string& ids : id_ranges) {
             commands.push_back(store_args("put", kind, ids));
             written += "," + ids;
           }
           record_concurrent(&r.store[kConcurrentAdd][store_index(kind)], commands);
         }))
      steps.push_back(std::move(step));
    run_rotated(run, steps);
  }
  log_progress("workload 5", phase);

  // 6. Hit latency in a warm process (Google Benchmark, in the child).
  phase = Clock::now();
  for (StoreKind kind : config_.stores) {
    const ChildResult result = run_child(store_args("hits", kind, std::to_string(n_ / 2)));
    if (!result.ok) {
      std::fprintf(stderr, "peer_bench: hits on %s: %s\n", store_id(kind), result.error.c_str());
      continue;
    }
    std::stringstream lines(result.output);
    std::string line;
    while (std::getline(lines, line)) {
      const double threads = output_field(line, "threads");
      if ((threads == 1 || threads == 2) && output_field(line, "error") == 0)
        r.hit_ns[store_index(kind)][static_cast<int>(threads) - 1] = output_field(line, "ns");
    }
  }
  log_progress("workload 6", phase);

  // Nothing lost: every store returns every id put into it, byte for byte
  // (workload 5's concurrent writers included).
  for (StoreKind kind : config_.stores) {
    const int i = store_index(kind);
    r.verified_at_end[i] = verify(kind, written_[i]);
  }

  if (config_.keep_files) return r;
  for (StoreKind kind : config_.stores) remove_store(kind, store_path(kind));
  ::unlink(floor_path().c_str());
  ::unlink((values_base_ + ".bin").c_str());
  ::unlink((values_base_ + ".idx").c_str());
  ::sync();
  return r;
}

// --- the report ----------------------------------------------------------------------

std::string mb_text(const Samples& samples) {
  if (!samples.ok()) return samples.failed() ? "error" : "—";
  char text[32];
  std::snprintf(text, sizeof(text), "%.0f", samples.median());
  return text;
}

class Report {
 public:
  Report(const Config& config, const SizeResults& r) : config_(config), r_(r) {}

  void print(std::vector<Target>* targets) const {
    std::printf("### N = %s (raw values %s)\n\n", with_commas(r_.n).c_str(),
                format_bytes(static_cast<double>(r_.raw_bytes)).c_str());
    print_times("Whole process: wall time from fork to reaped (median)", &Cell::whole);
    print_times("In-process: open the store, do the work, close it (median; the child's own clock)",
                &Cell::in);
    print_rss();
    print_ratios();
    print_hits();
    print_storage();
    if (r_.n == 10'000 && targets) add_targets(targets);
  }

 private:
  using Member = Samples Cell::*;

  void header(const char* first_column) const {
    std::printf("| %s | Floor |", first_column);
    for (StoreKind kind : config_.stores) std::printf(" %s |", store_title(kind));
    std::printf("\n|---|---|");
    for (size_t i = 0; i < config_.stores.size(); ++i) std::printf("---|");
    std::printf("\n");
  }

  void print_times(const char* title, Member member) const {
    std::printf("%s:\n\n", title);
    header("Workload");
    for (int w = 0; w < kWorkloads; ++w) {
      std::printf("| %s | %s |", kWorkloadNames[w], format_median(r_.floor[w].*member).c_str());
      for (StoreKind kind : config_.stores)
        std::printf(" %s |", format_median(r_.store[w][store_index(kind)].*member).c_str());
      std::printf("\n");
    }
    std::printf("| a 4 KB append + fsync (floor) | %s |",
                format_median(r_.fsync_4k.*member).c_str());
    for (size_t i = 0; i < config_.stores.size(); ++i) std::printf(" |");
    // A process that does nothing has no in-process time.
    std::printf("\n| start a process that does nothing (floor) | %s |",
                member == &Cell::whole ? format_median(r_.process_start.whole).c_str() : "—");
    for (size_t i = 0; i < config_.stores.size(); ++i) std::printf(" |");
    std::printf("\n\n");
  }

  void print_rss() const {
    std::printf("Peak RSS of the process (MB, median; workload 5: the largest of the 4):\n\n");
    header("Workload");
    for (int w = 0; w < kWorkloads; ++w) {
      std::printf("| %s | %s |", kWorkloadNames[w], mb_text(r_.floor[w].rss_mb).c_str());
      for (StoreKind kind : config_.stores)
        std::printf(" %s |", mb_text(r_.store[w][store_index(kind)].rss_mb).c_str());
      std::printf("\n");
    }
    std::printf("\n");
  }

  // Median of the per-round ratios (each round runs both), whole process and,
  // in parentheses, in-process.
  std::string ratio_text(const Cell& a, const Cell& b) const {
    const double whole = paired_ratio(a.whole, b.whole);
    const double in = paired_ratio(a.in, b.in);
    return format_ratio(whole) + " (" + format_ratio(in) + ")";
  }

  void print_ratios() const {
    std::vector<StoreKind> rtcache, peers;
    for (StoreKind kind : config_.stores) {
      (kind == StoreKind::kRtcacheZstd || kind == StoreKind::kRtcacheNone ? rtcache : peers)
          .push_back(kind);
    }
    if (rtcache.empty()) return;
    std::printf(
        "rtcache / peer: median of the per-round ratios, whole process (in-process in "
        "parentheses); below 1 means rtcache is faster:\n\n| Workload | rtcache |");
    for (StoreKind kind : peers) std::printf(" / %s |", store_title(kind));
    std::printf(" / floor |\n|---|---|");
    for (size_t i = 0; i <= peers.size(); ++i) std::printf("---|");
    std::printf("\n");
    for (int w = 0; w < kWorkloads; ++w) {
      for (StoreKind mine : rtcache) {
        const Cell& a = r_.store[w][store_index(mine)];
        std::printf("| %s | %s |", kWorkloadNames[w], store_title(mine));
        for (StoreKind peer : peers)
          std::printf(" %s |", ratio_text(a, r_.store[w][store_index(peer)]).c_str());
        std::printf(" %s |\n", ratio_text(a, r_.floor[w]).c_str());
      }
    }
    std::printf("\n");
  }

  void print_hits() const {
    std::printf(
        "6. Repeated hit on one key in a warm process, ns per get per thread (Google Benchmark, "
        "median of 5 repetitions):\n\n| Store | 1 thread | 2 threads | What a hit is |\n"
        "|---|---|---|---|\n");
    for (StoreKind kind : config_.stores) {
      const int i = store_index(kind);
      std::printf("| %s | %s | %s | %s |\n", store_title(kind), format_ns(r_.hit_ns[i][0]).c_str(),
                  format_ns(r_.hit_ns[i][1]).c_str(), hit_description(kind));
    }
    std::printf("\n");
  }

  static const char* hit_description(StoreKind kind) {
    switch (kind) {
      case StoreKind::kRtcacheZstd:
      case StoreKind::kRtcacheNone:
        return "`RuntimeCache::get`: the value, kept in memory after its first read";
      case StoreKind::kSqlite:
        return "a prepared SELECT on the thread's connection (own read transaction)";
      case StoreKind::kLmdb:
        return "read-only txn + `mdb_get` (pointer into the map) + abort";
      case StoreKind::kFilePerEntry:
        return "open + fstat + read + close of the entry's file (page cache)";
      case StoreKind::kWholeBlob:
        return "a hash-map lookup in the blob loaded at open";
    }
    return "";
  }

  void print_storage() const {
    std::printf(
        "| Store | Bytes on disk after workload 1 | Raw values / disk | Check after workload 1 "
        "| Check at the end (every value put by workloads 1, 4, 5) | Rounds (workloads 1-5) "
        "|\n|---|---|---|---|---|---|\n");
    for (StoreKind kind : config_.stores) {
      const int i = store_index(kind);
      std::string rounds;
      for (int w = 0; w < kWorkloads; ++w) {
        rounds += (w ? ", " : "") + std::to_string(r_.store[w][i].whole.count());
      }
      std::printf("| %s | %s | %s | %s | %s | %s |\n", store_title(kind),
                  format_bytes(static_cast<double>(r_.disk_bytes[i])).c_str(),
                  r_.disk_bytes[i]
                      ? format_ratio(static_cast<double>(r_.raw_bytes) / r_.disk_bytes[i]).c_str()
                      : "—",
                  r_.verified_after_save[i].c_str(), r_.verified_at_end[i].c_str(), rounds.c_str());
    }
    std::printf("\n");
  }

  void add_targets(std::vector<Target>* targets) const {
    std::vector<StoreKind> peers;
    for (StoreKind kind : config_.stores)
      if (kind != StoreKind::kRtcacheZstd && kind != StoreKind::kRtcacheNone) peers.push_back(kind);
    for (StoreKind mine : {StoreKind::kRtcacheZstd, StoreKind::kRtcacheNone}) {
      if (std::find(config_.stores.begin(), config_.stores.end(), mine) == config_.stores.end())
        continue;
      const int m = store_index(mine);
      const std::string tag = std::string(" — ") + store_title(mine);
      for (Workload w : {kReadAll, kReadTen, kAddTen}) {
        for (const Member member : {&Cell::whole, &Cell::in}) {
          // Faster than every peer: the largest ratio decides.
          double worst = 0;
          std::string worst_peer = "—";
          bool measured = true;
          for (StoreKind peer : peers) {
            const double ratio =
                paired_ratio(r_.store[w][m].*member, r_.store[w][store_index(peer)].*member);
            if (std::isnan(ratio)) measured = false;
            if (ratio > worst) worst = ratio, worst_peer = store_title(peer);
          }
          const bool whole = member == &Cell::whole;
          targets->push_back({std::string(kWorkloadNames[w]) + ": faster than every peer (" +
                                  (whole ? "whole process" : "in-process") + ")" + tag,
                              measured
                                  ? format_seconds((r_.store[w][m].*member).median()) +
                                        "; closest: " + worst_peer + " at " + format_ratio(worst)
                                  : "error",
                              measured && worst < 1.0});
        }
      }
      const double ten = r_.store[kReadTen][m].in.median();
      targets->push_back({"3. read 10 values in-process < 0.5 ms" + tag, format_seconds(ten),
                          !std::isnan(ten) && ten < 0.5e-3});
      for (const Member member : {&Cell::in, &Cell::whole}) {
        const double ratio = paired_ratio(r_.store[kAddTen][m].*member, r_.floor[kAddTen].*member);
        const bool whole = member == &Cell::whole;
        targets->push_back({std::string("4. add 10 within 2x of append + fsync (") +
                                (whole ? "whole process" : "in-process") + ")" + tag,
                            format_ratio(ratio) + " (" +
                                format_seconds((r_.store[kAddTen][m].*member).median()) + " vs " +
                                format_seconds((r_.floor[kAddTen].*member).median()) + ")",
                            !std::isnan(ratio) && ratio <= 2.0});
      }
      for (int threads = 1; threads <= 2; ++threads) {
        const double ns = r_.hit_ns[m][threads - 1];
        targets->push_back({"6. repeated hit < 1 µs (" + std::to_string(threads) + " thread" +
                                (threads > 1 ? "s" : "") + ")" + tag,
                            format_ns(ns) + " ns", !std::isnan(ns) && ns < 1000});
      }
    }
    const int z = store_index(StoreKind::kRtcacheZstd);
    if (r_.disk_bytes[z]) {
      const double shrink = static_cast<double>(r_.raw_bytes) / r_.disk_bytes[z];
      targets->push_back({"rtcache's zstd file ≥ 4x smaller than the raw values",
                          format_ratio(shrink) + " smaller (" +
                              format_bytes(static_cast<double>(r_.disk_bytes[z])) + ")",
                          shrink >= 4.0});
    }
  }

  const Config& config_;
  const SizeResults& r_;
};

}  // namespace

int main(int argc, char** argv) {
  Config config;
  ChildArgs child;
  CLI::App app(
      "rtcache against SQLite, LMDB, a file per entry and a whole blob, workload by "
      "workload, as whole processes; prints markdown tables.",
      "peer_bench");
  CLI::Option* corpus = add_corpus_bench_options(app, &config);
  app.add_option("--slow-runs", config.slow_runs,
                 "At most this many rounds for the slowest cells at N >= 10,000")
      ->type_name("N")
      ->check(bundled::positive_count())
      ->capture_default_str();
  std::vector<std::string> store_ids, chosen_stores;
  for (StoreKind kind : kAllStores) store_ids.push_back(store_id(kind));
  app.add_option("--stores", chosen_stores, "Stores to measure, comma-separated (default: all)")
      ->type_name("STORE,...")
      ->delimiter(',')
      ->check(CLI::IsMember(store_ids));
  app.add_flag("--keep-files", config.keep_files, "Leave the stores' files behind");
  add_child_mode(app, &child.mode, corpus);
  std::string child_store = store_id(child.kind);
  app.add_option("--store", child_store)->check(CLI::IsMember(store_ids))->group("");
  app.add_option("--path", child.path)->group("");
  app.add_option("--values", child.values)->group("");
  app.add_option("--ids", child.ids_text)->group("");
  if (const std::optional<int> exit_status = bundled::parse_command_line(app, argc, argv))
    return *exit_status;
  // The store ids are checked above, so parse_store_kind cannot fail.
  if (!child.mode.empty()) {
    (void)parse_store_kind(child_store, &child.kind);
    child.ids = parse_ids(child.ids_text);
    return child_main(child);
  }
  if (!chosen_stores.empty()) {
    config.stores.clear();
    for (const std::string& id : chosen_stores)
      (void)parse_store_kind(id, &config.stores.emplace_back());
  }
  config.exe = self_exe();
  const std::vector<std::string> cubins = load_corpus(config.corpus_dir);
  if (cubins.empty()) {
    std::fprintf(stderr, "peer_bench: no .cubin files in %s\n", config.corpus_dir.c_str());
    return 1;
  }
  std::string dir_template = (config.tmp_root / "rtcache-peers-XXXXXX").string();
  if (::mkdtemp(dir_template.data()) == nullptr) {
    std::perror("peer_bench: mkdtemp");
    return 1;
  }
  const fs::path dir = dir_template;

  std::printf(
      "Medians of %d rounds (%d for workload 3 and the process-start floor; at N = 10,000, %d "
      "for the slowest cells: the whole blob's workloads 4 and 5, the file-per-entry store's "
      "workload 1); in each round every store and floor runs once, in rotating order. "
      "Whole-process figures are wall time from fork to reaped, as measured "
      "by the parent (exec, dynamic linking, open, work, close, exit); in-process figures are "
      "the child's own clock from just before opening the store to just after closing it. "
      "Page cache warm: every store is read once (the check) before workloads 2 and 3. "
      "Load average at the start: %s.\n\n",
      config.runs, config.fast_runs, std::min(config.runs, config.slow_runs),
      load_average().c_str());
  std::fflush(stdout);

  std::vector<Target> targets;
  const auto start = Clock::now();
  for (uint64_t n : config.sizes) {
    const auto size_start = Clock::now();
    const fs::path size_dir = dir / ("n" + std::to_string(n));
    fs::create_directories(size_dir);
    Runner runner(config, size_dir, n);
    const SizeResults results = runner.run(cubins);
    Report(config, results).print(&targets);
    std::fflush(stdout);
    std::fprintf(stderr, "peer_bench: N = %s done in %.1f s\n", with_commas(n).c_str(),
                 seconds_since(size_start));
  }
  if (!targets.empty()) {
    std::printf("### Targets at N = 10,000 (issue 7)\n\n");
    print_targets("Target", targets);
  }
  std::printf("peer_bench took %.0f s; load average at the end: %s.\n\n", seconds_since(start),
              load_average().c_str());
  if (config.keep_files) {
    std::fprintf(stderr, "peer_bench: files kept in %s\n", dir.c_str());
  } else {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  return 0;
}

// rtcache maintenance -- inspecting, verifying, repairing and pruning a cache
// file from outside the process that uses it (the `rtcache` tool is built on
// these).
//
// Each function works on a path, takes the cache's inter-process lock when it
// changes the file (so it is safe while other processes use the cache), and
// returns a Status naming the file and the reason on failure. A file that is
// not an rtcache file at all (empty, another format, not a regular file) gives
// Status::NotACacheFile, and is never written to; damage inside an rtcache
// file is Status::Corruption (or, for verify and repair, a DamagedRecord).
//
// Thread safety: the functions share no state; call them from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "rtcache/export.h"
#include "rtcache/options.h"
#include "rtcache/status.h"

namespace rtcache {

// Creates an empty cache file at `path` (and its directory) unless one
// exists: under the lock, through a temp file and a rename.
RTCACHE_EXPORT Status create_file(const std::string& path, const Options& options = {});

struct FileReport {
  uint32_t format_version = 0;
  uint64_t entries = 0;
  uint64_t live_bytes = 0;  // bytes of the live records
  uint64_t dead_bytes = 0;  // superseded or erased records, old indexes, padding, torn tail
  uint64_t file_bytes = 0;
  uint64_t value_bytes = 0;       // decoded size of the live values
  int64_t oldest_created_ns = 0;  // 0 when empty
  int64_t newest_created_ns = 0;
  int64_t last_compaction_ns = 0;  // when the current file was written whole
  uint64_t saves = 0;              // saves since then
};

// Reads the index and every live record header.
RTCACHE_EXPORT Status inspect_file(const std::string& path, FileReport* report,
                                   const Options& options = {});

struct DamagedRecord {
  uint64_t offset = 0;
  std::string reason;  // names the file and the offset ("F: record at offset N: why")
};

struct VerifyReport {
  uint64_t records = 0;  // records that verified (puts, erases, indexes, padding)
  std::vector<DamagedRecord> damaged;
  bool ok() const { return damaged.empty(); }
};

// Reads every byte of the file and checks every checksum, also of records the
// index no longer references. A torn tail is listed as damage at its offset.
RTCACHE_EXPORT Status verify_file(const std::string& path, VerifyReport* report,
                                  const Options& options = {});

struct RepairReport {
  uint64_t kept = 0;  // live entries in the rewritten file
  std::vector<DamagedRecord> dropped;
};

// Rewrites the file (temp file, fsync, rename) keeping every intact record,
// resynchronising past damaged ones; the latest intact record of each key wins.
RTCACHE_EXPORT Status repair_file(const std::string& path, RepairReport* report,
                                  const Options& options = {});

// Deletes the cache file (a way out of a full disk: needs no space), under
// the same locks and checks as a save: a symbolic link, a file that is not an
// rtcache file and an untrusted file are refused and left alone. Writers
// waiting meanwhile start a new file. NotFound when there is no file.
RTCACHE_EXPORT Status clear_file(const std::string& path, const Options& options = {});

struct PruneReport {
  std::vector<std::string> removed_keys;
  uint64_t removed_bytes = 0;
  uint64_t live_bytes_after = 0;
};

// Erases least recently used entries until live bytes are at most max_bytes
// (0: no size limit) and entries unused for longer than older_than (0: no age
// limit), then compacts. Uses the last-use times recorded in the file.
RTCACHE_EXPORT Status prune_file(const std::string& path, uint64_t max_bytes,
                                 std::chrono::seconds older_than, PruneReport* report,
                                 const Options& options = {});

}  // namespace rtcache

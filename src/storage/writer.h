// Writing a cache file: a save appends its records and an index under the
// inter-process lock (merging with what other processes saved meanwhile), and
// past the thresholds rewrites the file without dead bytes.
//
// Thread safety: the functions share no state; callers serialise saves of one
// handle themselves, and the file lock serialises processes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rtcache/bytes.h"
#include "rtcache/env.h"
#include "storage/view.h"

namespace rtcache::store {

// One PUT or ERASE record, encoded and ready to append.
struct EncodedRecord {
  uint64_t key_hash = 0;
  bool erase = false;
  int64_t last_used_ns = 0;
  std::string head;    // header, key and metadata; or a whole record copied as stored
  std::string stored;  // the value, when encoding made new bytes
  Bytes shared;        // the value, when stored as given (not copied)
  std::string_view value() const {
    return shared.size() ? shared.view() : std::string_view(stored);
  }
  uint64_t size() const { return head.size() + value().size(); }
};

// A newer last-use time for an entry already in the file.
struct Touch {
  uint64_t key_hash = 0;
  int64_t last_used_ns = 0;
};

// What one save appends.
struct Changes {
  std::vector<EncodedRecord> records;
  std::vector<Touch> touches;
  bool empty() const { return records.empty() && touches.empty(); }
};

// How a save writes; cache/storage_options.h maps Options onto it.
struct CommitOptions {
  Limits limits;
  uint32_t file_mode = 0600;
  uint32_t dir_mode = 0700;
  std::chrono::milliseconds lock_timeout{10'000};
  bool sync = true;
  double compaction_dead_ratio = 0.5;
  uint64_t compaction_min_dead_bytes = 4u << 20;
  bool force_compaction = false;
  bool create_empty = false;     // write a new, empty file when none exists
  uint64_t max_bytes = 0;        // size budget for live bytes (0: none)
  std::vector<uint64_t> in_use;  // sorted key hashes this process uses: evicted last
};

struct CommitResult {
  std::shared_ptr<const View> view;  // the file after the save
  std::vector<uint64_t> offsets;     // where each record of Changes landed (before compaction)
  uint64_t bytes_written = 0;
  bool compacted = false;
  bool created = false;
  Status compaction_status;       // a compaction that failed after a durable save
  std::vector<uint64_t> evicted;  // key hashes erased to stay within max_bytes
};

// The locks a writer holds: the lock file and the cache file itself.
struct WriteLock {
  std::unique_ptr<FileLock> lock;  // on path + ".lock"
  std::shared_ptr<File> file;      // the cache file, open for writing
  std::unique_ptr<File> guard;     // the cache file again: holds its lock
  FileInfo info;                   // its fstat
};

// Takes a writer's locks on an existing cache file (for a rewrite such as
// repair): refuses a symbolic link, anything that is not an rtcache file
// (before any lock file is made next to it), and an untrusted file, lock file
// or directory; then locks the lock file and the file itself. NotFound when
// there is no file.
Status lock_existing(Env* env, const std::string& path, const CommitOptions& options,
                     WriteLock* out);

// Under `path + ".lock"`: reads what is on disk now, cuts a torn tail,
// appends the changes, evicts past the budget, appends an index, syncs, and
// compacts past the thresholds. A failure leaves the committed file as it was.
Status commit(Env* env, const std::string& path, const CommitOptions& options,
              const Changes& changes, const std::shared_ptr<const View>& known,
              CommitResult* result);

}  // namespace rtcache::store

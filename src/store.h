// The cache file as a log: reading its committed state into an immutable
// View, reading single records back, and appending a save (under the
// inter-process lock) or rewriting the file without dead bytes.
//
// A file is a header followed by records. PUT and ERASE records are the truth;
// INDEX records (aligned, ending with a trailer that is then the file's last 32
// bytes) summarise every record before them, fully or as a delta over the
// previous index, so that opening reads one small chain instead of every
// record. Anything after the last index that verifies is salvaged; anything
// that does not is a torn tail, ignored by readers and cut by the next writer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "format.h"
#include "rtcache/bytes.h"
#include "rtcache/env.h"
#include "rtcache/options.h"

namespace rtcache::store {

// An immutable snapshot of what one file held when it was read.
struct View {
  std::shared_ptr<File> file;  // kept open: values are read from it later
  std::string path;
  FileIdentity identity;
  format::FileHeader header;
  uint64_t file_size = 0;           // size when read
  uint64_t end = 0;                 // end of the valid prefix (file_size unless a torn tail)
  std::vector<format::Slot> slots;  // live entries, sorted by key_hash
  uint64_t live_bytes = 0;          // sum of the live records' lengths
  bool has_index = false;
  uint64_t index_offset = 0;
  uint64_t index_length = 0;
  format::IndexInfo index_info;
  std::vector<format::Slot> unindexed;  // salvaged after the last index, in file order
  uint64_t damaged_records = 0;         // found while salvaging

  const format::Slot* find(uint64_t key_hash) const;
  uint64_t dead_bytes() const;
};

struct Limits {
  uint64_t max_value_bytes = 1ull << 30;
  bool trust_others = false;  // accept files owned by others or writable by group/others
};

// PermissionDenied unless the file is owned by this user and writable by no
// one else, or the limits trust others.
Status check_trust(const std::string& path, const FileInfo& info, const Limits& limits);

// Reads an open file's committed state. Reuses `previous` when the file is
// unchanged and extends it when only new indexes were appended. Errors name
// the path: Corruption for a foreign, empty or unreadable file, NotSupported
// for a newer version.
Status read_view(std::shared_ptr<File> file, const Limits& limits,
                 const std::shared_ptr<const View>& previous, std::shared_ptr<const View>* out);

// Opens `path` read-only and reads it. NotFound when the file does not exist.
Status open_view(Env* env, const std::string& path, const Limits& limits,
                 const std::shared_ptr<const View>& previous, std::shared_ptr<const View>* out);

// One record read back, every checksum verified and the value decoded.
struct Record {
  format::RecordHeader header;
  std::string key;
  std::string meta;
  Bytes value;
  std::string raw;  // the record's bytes as stored (only when asked for)
};
enum class ReadMode { kHeaderOnly, kValue, kValueAndRaw };
// Corruption (naming path and offset) when anything fails to verify.
Status read_record(File& file, uint64_t offset, uint64_t length, const Limits& limits,
                   ReadMode mode, Record* record);

// What one save appends: encoded PUT/ERASE records, and new last-use times.
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
struct Touch {
  uint64_t key_hash = 0;
  int64_t last_used_ns = 0;
};
struct Changes {
  std::vector<EncodedRecord> records;
  std::vector<Touch> touches;
  bool empty() const { return records.empty() && touches.empty(); }
};

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

// Under `path + ".lock"`: reads what is on disk now, cuts a torn tail,
// appends the changes and an index, syncs, and compacts past the thresholds.
// A failure leaves the committed file as it was.
Status commit(Env* env, const std::string& path, const CommitOptions& options,
              const Changes& changes, const std::shared_ptr<const View>& known,
              CommitResult* result);

// Writes a new file holding the records of `source.slots` (read and verified
// through source.file; damaged ones are dropped) and renames it over `path`.
// The caller holds the lock.
Status rewrite_file(Env* env, const std::string& path, const CommitOptions& options,
                    const View& source, std::shared_ptr<const View>* out);

// Finds the next offset after `from` where a record header verifies (to
// resynchronise past damage); 0 when there is none.
uint64_t find_next_record(File& file, uint64_t from, uint64_t size, const Limits& limits);

// A whole file image in memory (header, the given records, a full index), as
// serialize() returns it.
std::string build_image(Env* env, const std::vector<EncodedRecord>& records);

// A read-only File over bytes in memory (to parse serialize() output with the
// same code that reads files).
std::shared_ptr<File> memory_file(std::string name, std::string bytes);

// Sorted by key_hash with `delta` applied in order (offset 0 erases).
std::vector<format::Slot> apply_slots(const std::vector<format::Slot>& base,
                                      std::vector<format::Slot> delta);

std::string parent_dir(const std::string& path);

}  // namespace rtcache::store

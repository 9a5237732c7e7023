// KvStore: the one interface peer_bench drives rtcache and its peers through.
//
// Each store keeps 32-byte keys and kernel-binary values, durably:
//   - rtcache (zstd-1, its default, and uncompressed): one file, kv_rtcache.cc;
//   - SQLite: one table (key BLOB PRIMARY KEY, value BLOB), WAL, kv_sqlite.cc;
//   - LMDB: one environment file, kv_lmdb.cc;
//   - a directory with one file per entry (CuPy, Triton, ccache), kv_files.cc;
//   - one blob rewritten whole under a lock file (the original), kv_blob.cc.
// A batch of puts is one transaction / one save, durable when it returns; a
// batch of gets is one read transaction. Opening a store is part of what a
// workload measures, so open_store does only what the store needs to serve.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.h"  // write_all, fsync_directory, errno_text for the file-based stores
#include "rtcache/bytes.h"

namespace bench {

enum class StoreKind { kRtcacheZstd, kRtcacheNone, kSqlite, kLmdb, kFilePerEntry, kWholeBlob };

inline constexpr StoreKind kAllStores[] = {StoreKind::kRtcacheZstd,  StoreKind::kRtcacheNone,
                                           StoreKind::kSqlite,       StoreKind::kLmdb,
                                           StoreKind::kFilePerEntry, StoreKind::kWholeBlob};

// Short id (command lines, file names) and the name in the tables.
const char* store_id(StoreKind kind);
const char* store_title(StoreKind kind);
bool parse_store_kind(std::string_view id, StoreKind* kind);

struct Entry {
  std::string key;
  rtcache::Bytes value;  // Bytes so rtcache can take it without a copy
};

// Receives each value found by get_batch: the key's index in the batch and
// the bytes, valid only during the call (LMDB and SQLite hand out pointers
// into their own pages).
class ValueConsumer {
 public:
  virtual void consume(size_t index, std::string_view value) = 0;

 protected:
  ~ValueConsumer() = default;
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  // Adds (or replaces) the entries: one transaction / one save, durable
  // (fsync) when it returns true. On false, *error says why.
  virtual bool put_batch(const std::vector<Entry>& entries, std::string* error) = 0;

  // Looks the keys up in one read transaction, calling consumer.consume for
  // each hit. Misses are not reported to the consumer. False on a store error.
  virtual bool get_batch(const std::vector<std::string>& keys, ValueConsumer& consumer,
                         std::string* error) = 0;

  // One lookup, callable from several threads at once (the hit-latency
  // benchmark): adds the value's size to *sink on a hit; false on a miss.
  virtual bool get_one(std::string_view key, uint64_t* sink) = 0;
};

// Opens (creating when missing) the store at `path`: a file, or for the
// file-per-entry store a directory. nullptr and *error on failure.
std::unique_ptr<KvStore> open_store(StoreKind kind, const std::string& path, std::string* error);

// The factories behind open_store, one per file.
std::unique_ptr<KvStore> open_rtcache_store(const std::string& path, bool compress,
                                            std::string* error);
std::unique_ptr<KvStore> open_sqlite_store(const std::string& path, std::string* error);
std::unique_ptr<KvStore> open_lmdb_store(const std::string& path, std::string* error);
std::unique_ptr<KvStore> open_file_per_entry_store(const std::string& path, std::string* error);
std::unique_ptr<KvStore> open_whole_blob_store(const std::string& path, std::string* error);

// Bytes the store occupies on disk (every file that belongs to it: WAL, lock
// files, the directory's files), as allocated blocks' logical sizes.
uint64_t store_disk_bytes(StoreKind kind, const std::string& path);
// Removes every file of the store.
void remove_store(StoreKind kind, const std::string& path);

}  // namespace bench

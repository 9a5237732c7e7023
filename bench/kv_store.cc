// open_store and the names, files and sizes of every store.
#include "kv_store.h"

#include <filesystem>

namespace bench {

namespace fs = std::filesystem;

namespace {

struct StoreNames {
  StoreKind kind;
  const char* id;
  const char* title;
};

constexpr StoreNames kNames[] = {
    {StoreKind::kRtcacheZstd, "rtcache-zstd", "rtcache (zstd-1)"},
    {StoreKind::kRtcacheNone, "rtcache-none", "rtcache (none)"},
    {StoreKind::kSqlite, "sqlite", "SQLite"},
    {StoreKind::kLmdb, "lmdb", "LMDB"},
    {StoreKind::kFilePerEntry, "files", "file per entry"},
    {StoreKind::kWholeBlob, "blob", "whole blob"},
};

// The files a store keeps next to (or inside) `path`.
std::vector<fs::path> store_files(StoreKind kind, const std::string& path) {
  switch (kind) {
    case StoreKind::kRtcacheZstd:
    case StoreKind::kRtcacheNone:
    case StoreKind::kWholeBlob:
      return {path, path + ".lock"};
    case StoreKind::kSqlite:
      return {path, path + "-wal", path + "-shm"};
    case StoreKind::kLmdb:
      return {path, path + "-lock"};
    case StoreKind::kFilePerEntry:
      return {path};
  }
  return {};
}

}  // namespace

const char* store_id(StoreKind kind) {
  for (const StoreNames& names : kNames)
    if (names.kind == kind) return names.id;
  return "?";
}

const char* store_title(StoreKind kind) {
  for (const StoreNames& names : kNames)
    if (names.kind == kind) return names.title;
  return "?";
}

bool parse_store_kind(std::string_view id, StoreKind* kind) {
  for (const StoreNames& names : kNames) {
    if (id == names.id) {
      *kind = names.kind;
      return true;
    }
  }
  return false;
}

std::unique_ptr<KvStore> open_store(StoreKind kind, const std::string& path, std::string* error) {
  switch (kind) {
    case StoreKind::kRtcacheZstd:
      return open_rtcache_store(path, /*compress=*/true, error);
    case StoreKind::kRtcacheNone:
      return open_rtcache_store(path, /*compress=*/false, error);
    case StoreKind::kSqlite:
      return open_sqlite_store(path, error);
    case StoreKind::kLmdb:
      return open_lmdb_store(path, error);
    case StoreKind::kFilePerEntry:
      return open_file_per_entry_store(path, error);
    case StoreKind::kWholeBlob:
      return open_whole_blob_store(path, error);
  }
  *error = "unknown store";
  return nullptr;
}

uint64_t store_disk_bytes(StoreKind kind, const std::string& path) {
  uint64_t total = 0;
  std::error_code ignored;
  for (const fs::path& file : store_files(kind, path)) {
    if (fs::is_directory(file, ignored)) {
      for (const auto& entry : fs::directory_iterator(file, ignored))
        if (entry.is_regular_file(ignored)) total += entry.file_size(ignored);
    } else if (fs::is_regular_file(file, ignored)) {
      total += fs::file_size(file, ignored);
    }
  }
  return total;
}

void remove_store(StoreKind kind, const std::string& path) {
  std::error_code ignored;
  for (const fs::path& file : store_files(kind, path)) fs::remove_all(file, ignored);
}

}  // namespace bench

// Writing a whole cache file at once: into a temp file beside it (O_EXCL,
// owner-only), synced, then renamed over the path and the directory synced.
// Used to create a file, to compact one and to repair one. The caller holds
// the cache's lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rtcache/env.h"
#include "storage/appender.h"
#include "storage/view.h"
#include "storage/writer.h"

namespace rtcache::store {

// Appends the records of a new file and returns their slots (any order).
using WriteRecords = std::function<Status(Appender*, std::vector<format::Slot>*)>;

// Writes header, records and a full index (generation `generation`) and
// renames the file over `path`; *out is the new file's View.
Status write_new_file(Env* env, const std::string& path, const CommitOptions& options,
                      uint64_t generation, const WriteRecords& write_records,
                      std::shared_ptr<const View>* out);

// Writes a new file holding the records of `source.slots` (read and verified
// through source.file; damaged ones are dropped) and renames it over `path`.
Status rewrite_file(Env* env, const std::string& path, const CommitOptions& options,
                    const View& source, std::shared_ptr<const View>* out);

// Removes temp files a writer that died left beside `path` (only a writer
// holding the lock has one, and the caller holds it).
void remove_stale_temps(Env* env, const std::string& path);

}  // namespace rtcache::store

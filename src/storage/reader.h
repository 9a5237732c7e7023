// Reading a cache file's committed state into a View.
//
// Opening reads the trailer and the chain of index records it points at (a
// full index and the deltas after it), not the records themselves. A torn
// tail (a crashed or still running save) is handled by probing backwards for
// the latest index and salvaging the records after it; readers never change
// the file.
#pragma once

#include <memory>
#include <string>

#include "rtcache/env.h"
#include "storage/view.h"

namespace rtcache::store {

// Reads an open file's committed state. Reuses `previous` when the file is
// unchanged and extends it when only new indexes were appended. Errors name
// the path: NotACacheFile for a foreign or empty file, Corruption for a
// damaged header, NotSupported for a newer version. Cost, for any file,
// however crafted: at most twice its size in index bytes read, and memory
// linear in the index bytes (index records must not overlap or point
// forwards; a chain is at most 64 long).
Status read_view(std::shared_ptr<File> file, const Limits& limits,
                 const std::shared_ptr<const View>& previous, std::shared_ptr<const View>* out);

// Opens `path` read-only, checks that it may be trusted, and reads it.
// NotFound when the file does not exist.
Status open_view(Env* env, const std::string& path, const Limits& limits,
                 const std::shared_ptr<const View>& previous, std::shared_ptr<const View>* out);

}  // namespace rtcache::store

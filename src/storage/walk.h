// Walking every record of a file from the start, verifying every checksum
// and resynchronising past damage (what verify and repair need; opening a
// file never does this).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rtcache/env.h"
#include "storage/record_io.h"
#include "storage/view.h"

namespace rtcache::store {

// A damaged stretch of the file. The reason names the file and the offset.
struct Damage {
  uint64_t offset = 0;
  std::string reason;
};

// Calls on_record(offset, record) for each intact record, in file order, and
// lists each damaged one in *damaged. Only an I/O error stops the walk.
Status walk_records(File& file, uint64_t size, const Limits& limits, std::vector<Damage>* damaged,
                    const std::function<void(uint64_t, const Record&)>& on_record);

// Opens `path` (which must be a regular file with an rtcache header) for
// reading without reading its index; *size is its size.
Status open_for_walk(Env* env, const std::string& path, std::shared_ptr<File>* file,
                     uint64_t* size);

}  // namespace rtcache::store

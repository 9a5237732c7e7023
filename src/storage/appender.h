// Appending to a file in large vectored writes, and appending an index.
//
// Borrowed pieces must stay alive until flush(); owned ones are kept here.
// Not thread-safe: one writer, under the cache's lock.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "rtcache/env.h"
#include "storage/format.h"

namespace rtcache::store {

class Appender {
 public:
  Appender(File& file, uint64_t offset) : file_(file), offset_(offset) {}
  uint64_t position() const { return offset_ + pending_; }
  Status append(std::string_view bytes);
  Status append_owned(std::string bytes);
  Status flush();

 private:
  File& file_;
  uint64_t offset_;
  uint64_t pending_ = 0;
  std::vector<std::string_view> pieces_;
  std::deque<std::string> owned_;  // stable addresses
};

// Appends padding (indexes are aligned), an index record of `slots`, and
// returns the index's offset.
Status append_index(Appender* out, const format::IndexInfo& info,
                    const std::vector<format::Slot>& slots, uint64_t* index_offset);

}  // namespace rtcache::store

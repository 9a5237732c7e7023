// Reading one record back from a file: every checksum verified, the value
// decoded (or handed out in place, inside the buffer it was read into), and
// finding the next record after damage. Errors are Corruption naming the file
// and offset; I/O errors pass through as IOError.
#pragma once

#include <cstdint>
#include <string>

#include "rtcache/bytes.h"
#include "rtcache/env.h"
#include "storage/format.h"
#include "storage/view.h"

namespace rtcache::store {

struct Record {
  format::RecordHeader header;
  std::string key;
  std::string meta;
  Bytes value;
  std::string raw;  // the record's bytes as stored (only when asked for)
};

enum class ReadMode { kHeaderOnly, kValue, kValueAndRaw };

// `length` is the record's length when an index gave it (checked against the
// header), or 0 when unknown.
Status read_record(File& file, uint64_t offset, uint64_t length, const Limits& limits,
                   ReadMode mode, Record* record);

// Reads and checks the file header of a file of `size` bytes. Errors name the
// file: NotACacheFile (empty, foreign), Corruption, NotSupported (newer).
Status read_file_header(File& file, uint64_t size, format::FileHeader* header);

// Reads exactly n bytes at offset; Corruption ("truncated") when the file is shorter.
Status read_exact(File& file, uint64_t offset, size_t n, std::string* out);

// Finds the next offset after `from` where a record header verifies (to
// resynchronise past damage); 0 when there is none.
uint64_t find_next_record(File& file, uint64_t from, uint64_t size, const Limits& limits);

// "PATH: record at offset N", the context of every error about one record.
std::string record_at(const std::string& path, uint64_t offset);

}  // namespace rtcache::store

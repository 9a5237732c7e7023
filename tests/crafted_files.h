// Hostile files, made one way for the tests (tests/security_test.cc), the
// fuzzers' seed corpus (fuzz/make_seed_corpus.cc) and the measurements in
// docs/reliability.md. Each is valid at every checksum a reader verifies
// before it commits work, so that only the reader's bounds stop it.
#pragma once

#include <cstdint>
#include <string>

namespace rtcache::crafted {

// A cache file of `size` bytes with an index record header at every 4 KB
// boundary, each claiming a value that runs to the end of the file (its
// checksum fails only once all of it was read) and no trailer. A reader that
// tried every candidate index whole would read O(size^2 / 4096) bytes.
std::string overlapping_indexes(uint64_t size);

// A serialize() image of `count` zstd values that each decode to
// `decoded_bytes` of zeros (a few hundred bytes each, compressed).
std::string decompression_bombs(int count, uint64_t decoded_bytes);

}  // namespace rtcache::crafted

// The header files a kernel's compile read from disk, and whether they are
// still what they were: ccache's "direct mode" manifest, for NVRTC.
//
// A module's source, in-memory headers and options are in its cache key, but
// a header reached through an include path is read by NVRTC itself. So when a
// compile reads header files, the kernel is stored under a key that also
// covers their contents, and the module's key holds a manifest: for each such
// compile (a variant), the files it read with their content hashes and the
// key of the kernel it made. A lookup finds the first variant whose files all
// still hash the same; an edited header matches none, and is a miss.
//
// A hit stays cheap: each file is recorded with its stat stamp (device,
// inode, size, modification and change times), and a file that still has it
// is unchanged, so an unchanged file costs one stat, in any process on that
// machine. The change time cannot be set back, so an edit that restores the
// size and modification time is still seen. A file whose stamp differs (a
// copy on another machine, a touch) is read and hashed, once per process and
// change.
//
// Thread safety: all functions may be called from many threads.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtcache/status.h"

namespace rtcache::headers {

struct HeaderFile {
  std::string path;  // as NVRTC named it: relative paths resolve against the working directory
  std::string hash;  // XXH3-128 of the contents, 32 hex digits
  // stat when hashed: a file that still has it is unchanged, without reading it
  // (the change time cannot be set back, and moves on every write).
  uint64_t device = 0, inode = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
};

struct Variant {
  std::string kernel_key;
  std::vector<HeaderFile> files;
};

// The clock file times are taken from (CLOCK_REALTIME_COARSE): a file changed
// at or after a reading of it has a change time at or after that reading.
timespec file_clock_now();

// The files among `read` (NVRTC's list) that are on disk, with their hashes;
// names of in-memory headers are skipped (their contents are in the key).
// Aborted when a file changed at or after `compile_start`, since NVRTC may
// have read it mid-edit (the kernel is then not cached), or when a file
// cannot be read.
Status snapshot(const std::vector<std::string>& read,
                const std::vector<std::pair<std::string, std::string>>& in_memory,
                timespec compile_start, std::vector<HeaderFile>* files);

// The first of `files` that is gone or whose contents changed; "" when all
// are as recorded. Without `epoch`: one stat per file. With it, the files'
// directories are watched (directory_watch.h: worth it for lookups that
// repeat; the watch costs its setup and about 15 ms at process exit, when
// the kernel tears it down), files seen unchanged since the last event are
// not stat'ed again, and when all are unchanged and every one is watched,
// *epoch is the watch's epoch (else 0): while watch_epoch() still returns
// it, nothing changed.
std::string first_changed(const std::vector<HeaderFile>& files, uint64_t* epoch = nullptr);

// The watch's epoch now, after applying pending events (one read(2)).
uint64_t watch_epoch();

// A manifest's value. decode() is false on anything encode() did not write.
std::string encode(const std::vector<Variant>& variants);
bool decode(std::string_view text, std::vector<Variant>* variants);

// Manifests are told apart from kernels by their metadata.
inline constexpr std::string_view kManifestMetadata = "headers manifest";

// Most variants a manifest keeps (newest first): enough for a few checkouts
// or configurations sharing one cache, bounded so a lookup stays short.
inline constexpr size_t kMaxVariants = 8;

}  // namespace rtcache::headers

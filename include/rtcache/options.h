// rtcache::Options -- how a RuntimeCache handle stores and saves its entries.
//
// Every field has a documented default; `Options{}` is an in-memory cache.
// Set `path` to persist. Options are copied into the handle at creation.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "rtcache/export.h"

namespace rtcache {

class Env;

enum class Compression : uint8_t {
  kNone = 0,  // values stored as given
  kZstd = 1,  // values compressed with zstd (cubins shrink 3-8x)
};

// The default size budget (Options::max_bytes left at 0, RTCACHE_MAX_SIZE
// unset): 1 GiB of live bytes. Why that figure: CUDA's own JIT cache defaults
// to 256 MiB (CUDA_CACHE_MAXSIZE, at most 4 GiB) and ccache to 5 GiB. One
// kernel binary is 10 KiB to 1 MiB, so the kernels of one inference server
// are tens to a few hundred MiB; 1 GiB holds several models times several
// GPU architectures, and still keeps a cache in a shared home directory
// bounded. Least recently used entries go first, so a budget that is too
// small costs recompiles, never wrong results.
inline constexpr uint64_t kDefaultMaxBytes = uint64_t{1} << 30;

// Options::max_bytes = kNoSizeLimit: no size budget, whatever
// RTCACHE_MAX_SIZE says (RTCACHE_MAX_SIZE=0 means the same).
inline constexpr uint64_t kNoSizeLimit = UINT64_MAX;

struct Options {
  // The cache file. "" keeps the cache in memory only: load and save without
  // an explicit path are no-ops. The lock file is `path + ".lock"`.
  std::string path;

  // Save automatically when the handle is destroyed or, if it is still alive,
  // at normal process exit (std::exit / return from main). See the lifecycle
  // section of runtime_cache.h.
  bool autosave_on_del = false;

  // How long save() (and the CLI) waits for another process holding the
  // cache's inter-process lock before failing with Status::LockTimeout.
  std::chrono::milliseconds lock_timeout{10'000};

  // Value encoding for records written by this handle. Any handle reads both.
  Compression compression = Compression::kZstd;
  int compression_level = 1;  // zstd level; 1 is the fast level ccache and Mesa use

  // fsync the file (and, when a file is created or replaced, its directory)
  // before save() returns. Turn off only for throwaway caches.
  bool sync = true;

  // Permission bits for a created cache file, its lock file, and created
  // directories. Owner-only by default; for a group-shared cache use 0660 and
  // 0770 (applied with fchmod, so the umask cannot widen or narrow them).
  uint32_t file_mode = 0600;
  uint32_t dir_mode = 0700;

  // Compaction: a save rewrites the file without dead bytes (superseded or
  // erased records, old indexes) once they exceed both this fraction of the
  // file and this many bytes.
  double compaction_dead_ratio = 0.5;
  uint64_t compaction_min_dead_bytes = 4u << 20;

  // Last-use times (for least-recently-used pruning) are written back to the
  // file only when they moved by at least this much, so a warm process that
  // only reads does not rewrite the index on every exit.
  std::chrono::seconds last_use_resolution{600};

  // The largest value this handle accepts and serves, at most 1 GiB (the
  // format's limit; a larger setting means 1 GiB). A put of a larger value is
  // refused (RuntimeCache::put); a record in a file that declares a larger
  // one is treated as damaged when read, so no allocation is ever made from an
  // unchecked length. Compaction and repair copy records up to the format's
  // limit whatever this says, so they never drop an acknowledged entry.
  uint64_t max_value_bytes = 1ull << 30;

  // Size budget: when a save would leave the file's live bytes above this, the
  // least recently used entries are evicted (erased in the file), entries
  // this process has used or added going last. 0 (the default) means
  // RTCACHE_MAX_SIZE when set (a size in the grammar below; "0" there is no
  // limit), else kDefaultMaxBytes (1 GiB). kNoSizeLimit is no budget whatever
  // the environment says; any other value is the budget in bytes, also
  // whatever the environment says. resolve_max_bytes() says what 0 means here.
  uint64_t max_bytes = 0;

  // Periodic checkpoints: a handle with unsaved changes is saved in the
  // background at most this often. 0 (default) turns them off.
  std::chrono::milliseconds checkpoint_interval{0};

  // A cache file owned by another user, or writable by group or others, could
  // have been written by someone else; such a file is refused ("not trusted")
  // unless this is set. Set it for a cache shared by a group (file_mode 0660).
  bool trust_others = false;

  // A read-only cache: hits are served, new entries stay in this process's
  // memory, nothing is written and no lock file is made. Also turned on by
  // RTCACHE_READONLY=1, and found on its own when load() reads an existing
  // file that this user cannot change (a read-only mount or image layer, a
  // file or directory not writable by this user): then one info line says
  // so. Autosave, checkpoints and signal saves of such a handle do nothing,
  // silently; an explicit save() to its own file is PermissionDenied.
  bool read_only = false;

  // File-system seam; nullptr means Env::default_env().
  Env* env = nullptr;
};

// The one grammar for sizes, durations and switches, shared by Options
// fields read from the environment, the command-line tool and the Python
// bindings (so `RTCACHE_MAX_SIZE=1T` and `--max-size 1T` mean the same).
//
// Size: a decimal count of bytes with an optional unit K, M, G or T (powers
// of 1024, either case, optionally followed by "B" or "iB": "64K", "64KiB",
// "512MB", "1T"). False when malformed or when it overflows 64 bits.
RTCACHE_EXPORT bool parse_byte_size(std::string_view text, uint64_t* bytes);

// Duration: a decimal count with an optional unit ms, s, m, h or d; no unit
// means seconds ("1500ms", "10s", "30", "2h", "30d"). False when malformed or
// when it does not fit in signed 64-bit nanoseconds (about 292 years).
RTCACHE_EXPORT bool parse_duration(std::string_view text, std::chrono::milliseconds* duration);

// Switch: 1/0, true/false, yes/no, on/off, in any case.
RTCACHE_EXPORT bool parse_bool(std::string_view text, bool* value);

// The size budget that Options::max_bytes = `max_bytes` gives in this
// process: `max_bytes` itself unless it is 0; for 0, RTCACHE_MAX_SIZE when it
// is set (kNoSizeLimit for "0"), else kDefaultMaxBytes. A malformed
// RTCACHE_MAX_SIZE is one warning naming it, and the default applies. When
// `source` is given, it is set to "Options::max_bytes", "RTCACHE_MAX_SIZE" or
// "default": where the budget came from. Every handle and maintenance
// function resolves its Options::max_bytes through this one function.
RTCACHE_EXPORT uint64_t resolve_max_bytes(uint64_t max_bytes, const char** source = nullptr);

// Where the default cache file is, and why (what default_cache_path() returns,
// with its reasons, for tools such as `rtcache config`). Logs nothing.
struct DefaultCacheLocation {
  // default_cache_path()'s answer: the file, or "" (an in-memory cache).
  std::string path;
  // The file the environment names, also when `path` is "" because its
  // directory cannot be created ("" when none of the variables is set).
  std::string file;
  // The variable that named it: "RTCACHE_DIR", "XDG_CACHE_HOME", "HOME", or
  // "" when none is set.
  std::string source;
  // Why `path` is "" (the warning default_cache_path() logs); "" otherwise.
  std::string problem;
};
RTCACHE_EXPORT DefaultCacheLocation default_cache_location(Env* env = nullptr);

// The default cache file: $RTCACHE_DIR/kernels.rtc, else
// $XDG_CACHE_HOME/rtcache/kernels.rtc, else ~/.cache/rtcache/kernels.rtc.
// When that file exists it is returned as is, even where nothing can be
// written (a read-only image layer: the cache is then opened read-only, see
// Options::read_only). Otherwise, when the directory could not be created by
// this user (its nearest existing ancestor is not a writable directory),
// returns "" (an in-memory cache) and logs one warning per process. It has no
// side effects: the first save creates the directory (Options::dir_mode).
RTCACHE_EXPORT std::string default_cache_path(Env* env = nullptr);

}  // namespace rtcache

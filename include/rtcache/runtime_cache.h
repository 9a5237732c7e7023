// rtcache::RuntimeCache -- a persistent cache of JIT-compiled GPU kernels.
//
// A RuntimeCache maps keys (arbitrary bytes, typically a hash of everything
// that determines a compiled kernel) to values (the kernel binary) plus a few
// facts per entry: when it was created, when it was last used, and a short
// metadata string saying what made it ("sm_90 nvrtc 13.0 -O3"). It lives in
// memory and, when it has a path, in one file on disk.
//
// Handles
//   A handle is always held by std::shared_ptr and has identity: two handles
//   on one path are two caches (each merges into the file when it saves).
//   There is no copy; clone() makes a new, independent handle with the same
//   options and entries.
//
// The file, and many processes
//   save() takes an inter-process lock (`path + ".lock"`, never deleted),
//   reads what other processes saved since, appends only what this handle
//   changed (puts, erases, last-use times), writes a small index and fsyncs.
//   Nobody's kernels are lost: a save merges, it never overwrites. Erase and
//   reset are recorded, so a later merge does not bring entries back. Readers
//   take no lock; a reader or a crash at any instant sees the old or the new
//   state, never a torn one, and damaged records are detected by checksums,
//   skipped and logged. load() reads only the index; values are read,
//   verified and decompressed on first use. docs/format.md has the layout.
//
// Lifecycle (autosave)
//   With autosave_on_del, the handle is saved exactly once, by whichever runs
//   first: its destructor, or the process-wide exit hook that runs at normal
//   exit (return from main, std::exit from any thread) for handles that are
//   still alive then. The exit hook holds only a std::weak_ptr, so it never
//   keeps a handle alive, and the destructor unregisters it, so creating and
//   dropping handles does not accumulate hooks. Errors on these paths are
//   logged once (path and reason) and never thrown. Not saved: _exit,
//   std::quick_exit, abort, a crash, a fatal signal (unless save_on_signals()
//   in signals.h is used), and handles inherited by a forked child (only the
//   process that created the handle autosaves it). Options::checkpoint_interval
//   adds periodic background saves.
//
// Thread safety
//   Every member function may be called concurrently from many threads.
//   save() may run while other threads put: what they add lands in this save
//   or the next. Values returned by get() stay valid independently of the
//   handle (see bytes.h).
//
// Caveat
//   The index is keyed by a 64-bit hash of the key. Two different keys with
//   the same hash cannot both be stored: the later one replaces the earlier,
//   which then misses (a wrong value is never returned, because the full key
//   is checked on every read).
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rtcache/bytes.h"
#include "rtcache/export.h"
#include "rtcache/options.h"
#include "rtcache/status.h"

namespace rtcache {
namespace lifecycle {
class Saveable;  // internal: how process-level hooks reach a handle
}

// Facts about one entry, as listed by entries().
struct EntryInfo {
  std::string key;
  uint64_t value_size = 0;   // bytes get() returns
  uint64_t stored_size = 0;  // bytes the whole record takes in the file (0 if unsaved)
  int64_t created_ns = 0;    // Unix epoch nanoseconds
  int64_t last_used_ns = 0;
  std::string metadata;
  Compression encoding = Compression::kNone;  // how the value is stored in the file
};

// Counters since the handle was created (entries/live_bytes are current).
struct CacheStats {
  uint64_t entries = 0;
  uint64_t live_bytes = 0;  // record bytes of saved entries + value bytes of unsaved ones
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t puts = 0;
  uint64_t erases = 0;
  uint64_t bytes_loaded = 0;  // bytes read from files and streams
  uint64_t bytes_saved = 0;   // bytes written to files and streams
  uint64_t saves = 0;         // successful saves that wrote something
  uint64_t save_failures = 0;
  uint64_t compactions = 0;
  uint64_t damaged_records = 0;  // records skipped because a checksum failed
  uint64_t evictions = 0;        // entries erased from the file to stay within max_bytes
  uint64_t rejected_puts = 0;    // puts refused for a key, metadata or value over the limits
};

class RTCACHE_EXPORT RuntimeCache : public std::enable_shared_from_this<RuntimeCache> {
 public:
  // Makes a handle; does no I/O (call load() to read the file). With
  // autosave_on_del it is registered with the exit hook at once.
  static std::shared_ptr<RuntimeCache> create(Options options = {});

  // create() followed by load(); the error names the file and the reason.
  static Status open(Options options, std::shared_ptr<RuntimeCache>* cache);

  // The engine-implicit handle for `path` in this process: one handle per file
  // (autosave on), shared by every engine that asks while any of them holds
  // it, loaded on first creation. A load failure is logged and the handle
  // starts empty (it still saves, merging into whatever is on disk).
  static std::shared_ptr<RuntimeCache> implicit_for(const std::string& path);

  // A new handle with the same options and entries and its own exit
  // registration (when autosave is on). What this handle has not saved yet is
  // unsaved in the clone too.
  std::shared_ptr<RuntimeCache> clone() const;

  ~RuntimeCache();
  RuntimeCache(const RuntimeCache&) = delete;
  RuntimeCache& operator=(const RuntimeCache&) = delete;

  // --- entries ---------------------------------------------------------------

  // OK and *value set on a hit. NotFound on a miss. A record that fails its
  // checksum is dropped from the cache, logged, and reported as Corruption (a
  // caller treating any non-OK as a miss is correct). Updates last-use time.
  // `metadata`, when given, receives the entry's metadata string.
  Status get(std::string_view key, Bytes* value, std::string* metadata = nullptr);
  bool contains(std::string_view key);

  // Inserts or replaces. The value is kept in memory until saved. An entry
  // that a reader would refuse (key or metadata over 1 MiB, value over
  // Options::max_value_bytes) is refused here instead, so nothing is ever
  // saved that cannot be read back: it is not stored, one warning names the
  // key, and stats().rejected_puts counts it. check_put() says so up front.
  void put(std::string_view key, Bytes value, std::string_view metadata = {});
  // InvalidArgument (naming the key and the limit) when put() would refuse
  // an entry of these sizes.
  Status check_put(std::string_view key, uint64_t value_size, uint64_t metadata_size) const;
  void put(std::string_view key, std::string_view value, std::string_view metadata = {}) {
    put(key, Bytes(value), metadata);
  }

  // Removes the entry; recorded so that saving removes it from the file too.
  // Returns whether it existed.
  bool erase(std::string_view key);

  // Erases every entry this handle knows (as erase() on each). Entries that
  // other processes save later, and that this handle never saw, are kept.
  void reset();

  size_t size() const;
  CacheStats stats() const;
  // Whether save() would write something (puts or erases not saved yet).
  bool has_unsaved_changes() const;

  // Every live entry, sorted by key. Reads entry facts from the file.
  Status entries(std::vector<EntryInfo>* out);

  // --- portable bytes and streams ---------------------------------------------

  // The whole cache as one byte string (the file format, compacted; the same
  // entries always give the same bytes).
  Status serialize(std::string* out);
  // Merges a serialize() string in (its entries replace equal keys and are
  // saved by the next save()). Empty input is a no-op. Bad bytes: an error
  // naming the reason, and the cache unchanged.
  Status deserialize(std::string_view bytes);

  // Writes serialize() to the stream once; *bytes_written = its length.
  Status save_to_stream(std::ostream& stream, size_t* bytes_written = nullptr);
  // Reads one serialize() image from the stream (an image records its own
  // length, so reading stops at its end; bytes after it are left unread) and
  // merges it in; *bytes_read = its length (0 = the stream was empty, a no-op).
  Status load_from_stream(std::istream& stream, size_t* bytes_read = nullptr);

  // --- files -------------------------------------------------------------------

  // Reads the file's index (path() when `path` is empty). No-op when there is
  // no target or the file does not exist yet (first run). For the handle's own
  // file this refreshes the view of what is on disk; entries not saved yet are
  // kept and still win. Another file's entries are merged in as unsaved.
  Status load(const std::string& path = {});

  // Merges this handle's changes into the file (path() when `path` is empty)
  // under the inter-process lock, durably. No-op when there is no target or
  // nothing changed. Creates the parent directory. A failure leaves the file as
  // it was and keeps the changes for the next save. Saving to another file
  // writes every entry that file lacks.
  Status save(const std::string& path = {});

  // Rewrites the file without dead bytes, under the lock (save does this by
  // itself past the thresholds in Options).
  Status compact();

  const std::string& path() const { return options_.path; }
  const Options& options() const { return options_; }
  // Whether the handle is read-only (Options::read_only): set by the option or
  // RTCACHE_READONLY, or by load() on finding its file unchangeable.
  bool read_only() const;

  bool autosave_on_del() const { return autosave_.load(); }
  // Turning it on registers with the exit hook, off unregisters.
  void set_autosave_on_del(bool on);

  // Identifies this handle's exit-hook registration (0 when not registered).
  uint64_t exit_token() const;

  // Saves now if autosave is on, turning autosave off first (so a handle is
  // autosaved at most once). This is what the destructor and the exit hook
  // call; errors are logged, never thrown. Returns whether a save ran.
  bool autosave_now() noexcept;

  struct State;  // implementation

 private:
  explicit RuntimeCache(Options options);
  std::weak_ptr<lifecycle::Saveable> saveable();
  void register_exit_hook();
  void unregister_exit_hook();
  Status save_other(const std::string& target);
  void start_checkpoints();

  Options options_;
  std::atomic<bool> autosave_{false};
  uint64_t checkpoint_token_ = 0;
  int owner_pid_ = 0;
  std::unique_ptr<State> state_;
};

// Number of live handles registered with the exit hook in this process.
RTCACHE_EXPORT size_t exit_registry_size();

}  // namespace rtcache

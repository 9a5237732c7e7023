// rtcache -- the command-line tool for rtcache kernel cache files: inspect,
// verify, repair, merge, prune, compact, export/import and script a cache, and
// show the effective configuration (config). Without FILE a command works on
// --cache FILE, else the default cache (Grammar). No command evicts for a
// size budget other than its own arguments' (prune --max-size).
//
// The interface (commands, spellings, output, JSON keys, exit codes) is a
// contract that other tools drive; docs/cli.md is its reference.
//
// Exit status: 0 success; 1 key not found (get) or file damaged (verify);
// 2 usage error, unreadable or foreign file, I/O error, lock timeout. Every
// error is one line on stderr, "rtcache COMMAND: <file>: <reason>". A failed
// command's exit status comes from its Status code (ExitStatusFor).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli_util.h"
#include "rtcache/nvrtc_location.h"
#include "rtcache/rtcache.h"
#include "warm.h"

#ifndef RTCACHE_VERSION
#define RTCACHE_VERSION "unknown"
#endif

namespace rtcache::cli {
namespace {

using Json = nlohmann::ordered_json;  // keeps keys in the documented order

enum ExitCode : int {
  kExitOk = 0,
  kExitNotFoundOrDamaged = 1,
  kExitError = 2,  // usage error, unreadable file, I/O error, lock timeout
};

// --- reporting ------------------------------------------------------------------

// The one table from a failed Status to the exit status: a key that is not
// there is 1; everything else (a missing, unreadable, foreign, damaged or
// untrusted file, an I/O error, a lock timeout) is 2. A damaged file found by
// verify is 1 through its report, not through a Status.
int ExitStatusFor(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return kExitOk;
    case Status::Code::kNotFound:
      return kExitNotFoundOrDamaged;
    case Status::Code::kCorruption:
    case Status::Code::kNotSupported:
    case Status::Code::kInvalidArgument:
    case Status::Code::kIOError:
    case Status::Code::kLockTimeout:
    case Status::Code::kPermissionDenied:
    case Status::Code::kNotACacheFile:
    case Status::Code::kCompileError:
      return kExitError;
  }
  return kExitError;
}

int Fail(std::string_view command, std::string_view message) {
  std::cerr << "rtcache " << command << ": " << OneLine(message) << '\n';
  return kExitError;
}

int Fail(std::string_view command, const Status& status) {
  (void)Fail(command, status.message().empty() ? status.to_string() : status.message());
  return ExitStatusFor(status.code());
}

// Usage errors found after parsing look like CLI11's own.
int UsageError(std::string_view command, std::string_view message) {
  const std::string name = command.empty() ? "rtcache" : "rtcache " + std::string(command);
  std::cerr << name << ": " << OneLine(message) << " (see " << name << " --help)\n";
  return kExitError;
}

void PrintJson(const Json& json) {
  // Keys, metadata and reasons are ASCII by construction; a file name might
  // not be UTF-8, and must not make dump() throw.
  std::cout << json.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
}

// Flushes stdout and turns a failed write (full disk, closed pipe) into exit 2.
int Finish(std::string_view command, int exit_code) {
  std::cout.flush();
  if (!std::cout.good()) return Fail(command, "standard output: write failed");
  return exit_code;
}

// "1 entry", "2 entries".
std::string Entries(uint64_t count) {
  return std::to_string(count) + (count == 1 ? " entry" : " entries");
}

Json DamagedJson(const std::vector<DamagedRecord>& damaged) {
  Json list = Json::array();
  for (const DamagedRecord& record : damaged) {
    list.push_back({{"offset", record.offset}, {"reason", record.reason}});
  }
  return list;
}

// Each reason names the file and the offset itself (maintenance.h).
void PrintDamaged(const std::vector<DamagedRecord>& damaged) {
  for (const DamagedRecord& record : damaged) std::cout << "  " << OneLine(record.reason) << '\n';
}

// --- files ----------------------------------------------------------------------

// Opening a handle on a missing file succeeds (an empty first-run cache);
// commands that read a cache want "no such file" instead: an error about the
// file (exit 2), not a missing key (exit 1).
Status RequireFile(const std::string& path) {
  FileInfo info;
  Status s = Env::default_env()->stat(path, /*follow_symlinks=*/true, &info);
  return s.is_not_found() ? Status::IOError(s.message()) : s;
}

Status OpenCache(const std::string& path, const Options& base,
                 std::shared_ptr<RuntimeCache>* cache) {
  Options options = base;
  options.path = path;
  options.autosave_on_del = false;  // every command saves explicitly and checks the result
  return RuntimeCache::open(options, cache);
}

// merge and import promise a readable OUT even when they had nothing to add,
// and saving an empty change set writes nothing.
Status CreateEmptyCacheIfAbsent(const std::string& path, const Options& options) {
  return create_file(path, options);
}

// --- which cache ----------------------------------------------------------------

// How a command's positional arguments read. FILE, the cache, comes first,
// unless --cache names the cache or the command got exactly `fewest`
// positionals (its shortest form less FILE): then the cache is --cache's FILE,
// else the default cache. So `get FILE KEY` and `get KEY` both work, and no
// count of arguments means two things (docs/cli.md, "Which cache").
struct Grammar {
  size_t fewest = 0;  // positionals besides FILE in the shortest form
  size_t most = 0;    // and in the longest (kAnyNumber: no limit)
  const char* usage = "[FILE]";
};

constexpr size_t kAnyNumber = SIZE_MAX;

// The default cache file (default_cache_path(), which creates nothing), or
// an error saying how to name a cache.
Status DefaultCache(std::string* path) {
  const DefaultCacheLocation where = default_cache_location();
  if (where.path.empty()) {
    return Status::InvalidArgument("no default cache (" + where.problem +
                                   "); set RTCACHE_DIR or give FILE");
  }
  *path = where.path;
  return Status::OK();
}

// Splits a command's positional arguments into the cache file and the rest
// (Grammar). Returns kExitOk, or the exit status of the error it reported.
int SplitPositionals(std::string_view command, const Grammar& grammar,
                     const std::optional<std::string>& cache_option, std::vector<std::string> args,
                     std::string* file, std::vector<std::string>* rest) {
  file->clear();
  if (cache_option) {
    *file = *cache_option;
  } else if (args.size() > grammar.fewest) {
    *file = args.front();
    args.erase(args.begin());
    if (file->empty()) return UsageError(command, "FILE is empty");
  }
  if (args.size() < grammar.fewest || args.size() > grammar.most) {
    if (!cache_option) return UsageError(command, std::string("expected ") + grammar.usage);
    // --cache names the cache: the arguments are the rest of the form.
    const std::string_view usage = grammar.usage;
    const size_t space = usage.find(' ');
    return UsageError(command,
                      "expected " +
                          (space == std::string_view::npos ? std::string("no argument")
                                                           : std::string(usage.substr(space + 1))) +
                          " (--cache names the cache)");
  }
  *rest = std::move(args);
  if (file->empty()) {
    Status s = DefaultCache(file);
    if (!s.ok()) return Fail(command, s);
  }
  return kExitOk;
}

// A KEY argument; a malformed hex key is a usage error.
int ParseKeyArgument(std::string_view command, const std::string& text, std::string* key) {
  std::string error;
  if (ParseKey(text, key, &error)) return kExitOk;
  return UsageError(command, "KEY: " + error);
}

// --- commands -------------------------------------------------------------------

int RunInfo(const Options& options, const std::string& path, bool json) {
  FileReport report;
  Status s = RequireFile(path);
  if (s.ok()) s = inspect_file(path, &report, options);
  if (!s.ok()) return Fail("info", s);
  if (json) {
    PrintJson({{"file", path},
               {"format_version", report.format_version},
               {"entries", report.entries},
               {"live_bytes", report.live_bytes},
               {"dead_bytes", report.dead_bytes},
               {"file_bytes", report.file_bytes},
               {"value_bytes", report.value_bytes},
               {"oldest_created", report.oldest_created_ns},
               {"newest_created", report.newest_created_ns},
               {"last_compaction", report.last_compaction_ns},
               {"saves_since_compaction", report.saves}});
  } else {
    std::cout << "file:             " << path << '\n'
              << "format version:   " << report.format_version << '\n'
              << "entries:          " << report.entries << '\n'
              << "live bytes:       " << FormatBytes(report.live_bytes) << '\n'
              << "dead bytes:       " << FormatBytes(report.dead_bytes) << '\n'
              << "file bytes:       " << FormatBytes(report.file_bytes) << '\n'
              << "value bytes:      " << FormatBytes(report.value_bytes) << '\n'
              << "oldest entry:     " << FormatTimestamp(report.oldest_created_ns) << '\n'
              << "newest entry:     " << FormatTimestamp(report.newest_created_ns) << '\n'
              << "last compaction:  " << FormatTimestamp(report.last_compaction_ns) << '\n'
              << "saves since then: " << report.saves << '\n';
  }
  return Finish("info", kExitOk);
}

int RunLs(const Options& options, const std::string& path, bool json) {
  Status s = RequireFile(path);
  std::shared_ptr<RuntimeCache> cache;
  if (s.ok()) s = OpenCache(path, options, &cache);
  std::vector<EntryInfo> entries;
  if (s.ok()) s = cache->entries(&entries);
  if (!s.ok()) return Fail("ls", s);
  if (json) {
    Json list = Json::array();
    for (const EntryInfo& e : entries) {
      list.push_back({{"key", DisplayKey(e.key)},
                      {"size", e.value_size},
                      {"created", e.created_ns},
                      {"last_used", e.last_used_ns},
                      {"metadata", e.metadata.empty() ? "" : DisplayKey(e.metadata)},
                      {"stored_size", e.stored_size},
                      {"compression", e.encoding == Compression::kZstd ? "zstd" : "none"}});
    }
    PrintJson(list);
    return Finish("ls", kExitOk);
  }
  // Aligned columns, no header, so that `wc -l` counts entries.
  std::vector<std::string> keys;
  size_t key_width = 0, size_width = 0;
  for (const EntryInfo& e : entries) {
    keys.push_back(DisplayKey(e.key));
    key_width = std::max(key_width, keys.back().size());
    size_width = std::max(size_width, std::to_string(e.value_size).size());
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const EntryInfo& e = entries[i];
    std::string size = std::to_string(e.value_size);
    std::string line = keys[i] + std::string(key_width - keys[i].size() + 2, ' ') +
                       std::string(size_width - size.size(), ' ') + size + "  " +
                       FormatTimestamp(e.created_ns) + "  " + FormatTimestamp(e.last_used_ns);
    if (!e.metadata.empty()) line += "  " + DisplayKey(e.metadata);
    std::cout << line << '\n';
  }
  return Finish("ls", kExitOk);
}

int RunGet(const Options& options, const std::string& path, const std::string& key,
           const std::string& output) {
  // A pure read: the use is not recorded, so get works on read-only caches
  // and never waits for the lock.
  Status s = RequireFile(path);
  std::shared_ptr<RuntimeCache> cache;
  if (s.ok()) s = OpenCache(path, options, &cache);
  if (!s.ok()) return Fail("get", s);
  Bytes value;
  {
    // A damaged record is logged as a warning and returned as the error; keep
    // the error alone, so that it stays one line.
    std::vector<std::pair<LogLevel, std::string>> logged;
    LogSink previous = set_log_sink([&logged](LogLevel level, std::string_view message) {
      logged.emplace_back(level, std::string(message));
    });
    s = cache->get(key, &value);
    set_log_sink(std::move(previous));
    if (!s.is_corruption()) {
      for (const auto& [level, message] : logged) log(level, message);
    }
  }
  if (s.is_not_found()) s = Status::NotFound(path + ": no entry for key " + DisplayKey(key));
  if (!s.ok()) return Fail("get", s);
  s = WriteOutput(output, value.view());
  if (!s.ok()) return Fail("get", s);
  return kExitOk;
}

int RunPut(const Options& options, const std::string& path, const std::string& key,
           const std::string& input, const std::string& metadata) {
  std::shared_ptr<RuntimeCache> cache;
  Status s = OpenCache(path, options, &cache);
  std::string value;
  if (s.ok()) s = ReadInput(input, options.max_value_bytes, &value);
  if (s.ok()) s = cache->check_put(key, value.size(), metadata.size());
  if (s.ok()) {
    cache->put(key, Bytes(std::move(value)), metadata);
    s = cache->save();  // takes the lock and merges with what others saved
  }
  if (!s.ok()) return Fail("put", s);
  return kExitOk;
}

int RunRm(const Options& options, const std::string& path, const std::vector<std::string>& keys) {
  Status s = RequireFile(path);
  std::shared_ptr<RuntimeCache> cache;
  if (s.ok()) s = OpenCache(path, options, &cache);
  if (!s.ok()) return Fail("rm", s);
  std::vector<bool> existed;
  for (const std::string& key : keys) existed.push_back(cache->erase(key));
  s = cache->save();
  if (!s.ok()) return Fail("rm", s);
  for (size_t i = 0; i < keys.size(); ++i) {
    std::cout << (existed[i] ? "removed " : "not present: ") << DisplayKey(keys[i]) << '\n';
  }
  return Finish("rm", kExitOk);
}

int RunVerify(const Options& options, const std::string& path, bool json) {
  VerifyReport report;
  Status s = RequireFile(path);
  if (s.ok()) s = verify_file(path, &report, options);
  if (!s.ok()) {
    // A file that is not an rtcache file at all (NotACacheFile) is exit 2; an
    // rtcache header that fails its checks is damage at offset 0.
    if (!s.is_corruption()) return Fail("verify", s);
    report.damaged.push_back({0, s.message()});
  }
  if (json) {
    PrintJson({{"file", path},
               {"ok", report.ok()},
               {"records", report.records},
               {"damaged", DamagedJson(report.damaged)}});
  } else if (report.ok()) {
    std::cout << path << ": ok, " << report.records << " records verified\n";
  } else {
    std::cout << path << ": damaged: " << report.damaged.size() << " damaged record(s), "
              << report.records << " intact\n";
    PrintDamaged(report.damaged);
  }
  return Finish("verify", report.ok() ? kExitOk : kExitNotFoundOrDamaged);
}

int RunRepair(const Options& options, const std::string& path, bool json) {
  RepairReport report;
  Status s = RequireFile(path);
  if (s.ok()) s = repair_file(path, &report, options);
  if (!s.ok()) return Fail("repair", s);
  if (json) {
    PrintJson({{"file", path}, {"kept", report.kept}, {"dropped", DamagedJson(report.dropped)}});
  } else {
    std::cout << path << ": kept " << Entries(report.kept) << ", dropped " << report.dropped.size()
              << " damaged record(s)\n";
    PrintDamaged(report.dropped);
  }
  return Finish("repair", kExitOk);
}

int RunMerge(const Options& options, const std::string& out_path,
             const std::vector<std::string>& in_paths) {
  // Every input is opened (its index read and checked) before OUT changes, so
  // that a missing or foreign input fails the merge without half-doing it.
  std::vector<std::shared_ptr<RuntimeCache>> inputs;
  for (const std::string& in_path : in_paths) {
    Status s = RequireFile(in_path);
    std::shared_ptr<RuntimeCache> input;
    if (s.ok()) s = OpenCache(in_path, options, &input);
    if (!s.ok()) return Fail("merge", s);
    inputs.push_back(std::move(input));
  }
  for (const std::shared_ptr<RuntimeCache>& input : inputs) {
    // One save per input, under OUT's lock. Saving a handle to another file
    // writes only the entries that file lacks, copying the records as stored
    // (creation and last-use times kept): OUT's entry, else the earliest
    // input's, wins.
    Status s = input->save(out_path);
    if (!s.ok()) return Fail("merge", s);
  }
  Status s = CreateEmptyCacheIfAbsent(out_path, options);
  FileReport report;
  if (s.ok()) s = inspect_file(out_path, &report, options);
  if (!s.ok()) return Fail("merge", s);
  std::cout << out_path << ": merged " << in_paths.size() << " file(s), now "
            << Entries(report.entries) << '\n';
  return Finish("merge", kExitOk);
}

int RunPrune(const Options& options, const std::string& path, const std::string& max_size_text,
             const std::string& older_than_text, bool json) {
  using std::chrono::duration_cast;
  if (max_size_text.empty() && older_than_text.empty()) {
    return UsageError("prune", "give --max-size and/or --older-than");
  }
  // "--max-size 0" is no size limit, as in ccache (and for the library);
  // `rtcache clear` empties a cache.
  uint64_t max_bytes = 0;
  std::chrono::seconds older_than{0};
  if (!max_size_text.empty()) {
    (void)parse_byte_size(max_size_text, &max_bytes);  // validated by the parser
  }
  if (!older_than_text.empty()) {
    std::chrono::milliseconds age{0};
    (void)parse_duration(older_than_text, &age);  // validated by the parser
    older_than = duration_cast<std::chrono::seconds>(age);
    // The library reads 0 as "no age limit", the opposite of what 0s asks for.
    if (older_than.count() == 0) return UsageError("prune", "--older-than must be at least 1s");
  }
  Status s = RequireFile(path);
  PruneReport report;
  if (s.ok()) s = prune_file(path, max_bytes, older_than, &report, options);
  if (!s.ok()) return Fail("prune", s);
  if (json) {
    Json removed = Json::array();
    for (const std::string& key : report.removed_keys) removed.push_back(DisplayKey(key));
    PrintJson({{"file", path},
               {"removed", removed},
               {"removed_bytes", report.removed_bytes},
               {"live_bytes_after", report.live_bytes_after}});
  } else {
    std::cout << path << ": removed " << Entries(report.removed_keys.size()) << " ("
              << report.removed_bytes << " bytes), live bytes now " << report.live_bytes_after
              << '\n';
    for (const std::string& key : report.removed_keys) std::cout << "  " << DisplayKey(key) << '\n';
  }
  return Finish("prune", kExitOk);
}

int RunClear(const Options& options, const std::string& path) {
  Status s = RequireFile(path);
  if (s.ok()) s = clear_file(path, options);
  if (!s.ok()) return Fail("clear", s);
  std::cout << path << ": deleted\n";
  return Finish("clear", kExitOk);
}

int RunCompact(const Options& options, const std::string& path) {
  FileReport before, after;
  Status s = RequireFile(path);
  if (s.ok()) s = inspect_file(path, &before, options);  // also refuses a foreign file
  std::shared_ptr<RuntimeCache> cache;
  if (s.ok()) s = OpenCache(path, options, &cache);
  if (s.ok()) s = cache->compact();
  if (s.ok()) s = inspect_file(path, &after, options);
  if (!s.ok()) return Fail("compact", s);
  std::cout << path << ": " << before.file_bytes << " -> " << after.file_bytes << " bytes ("
            << Entries(after.entries) << ")\n";
  return Finish("compact", kExitOk);
}

int RunExport(const Options& options, const std::string& path, const std::string& output) {
  Status s = RequireFile(path);
  std::shared_ptr<RuntimeCache> cache;
  if (s.ok()) s = OpenCache(path, options, &cache);
  std::string bytes;
  if (s.ok()) s = cache->serialize(&bytes);
  if (s.ok()) s = WriteOutput(output, bytes);
  if (!s.ok()) return Fail("export", s);
  // With "-" the bytes are the output; say nothing else there.
  if (output != "-") {
    std::cout << output << ": exported " << Entries(cache->size()) << " (" << bytes.size()
              << " bytes)\n";
  }
  return Finish("export", kExitOk);
}

int RunImport(const Options& options, const std::string& path, const std::string& input) {
  std::unique_ptr<std::istream> stream;
  Status s = OpenInput(input, &stream);
  // Deserialized into an in-memory handle first, to count and check the
  // entries before the file is touched; then saved into FILE under its lock.
  // With the command's options (lock timeout, trust, limits), but no file.
  Options in_memory = options;
  in_memory.path.clear();
  in_memory.autosave_on_del = false;
  std::shared_ptr<RuntimeCache> imported = RuntimeCache::create(in_memory);
  if (s.ok()) {
    // Header first: anything that is not an image stops at once; an image is
    // read up to the length it declares.
    s = imported->load_from_stream(*stream);
    if (!s.ok()) s = s.with_context(input == "-" ? "standard input" : input);
  }
  if (s.ok()) s = imported->save(path);
  if (s.ok()) s = CreateEmptyCacheIfAbsent(path, options);
  if (!s.ok()) return Fail("import", s);
  std::cout << path << ": imported " << Entries(imported->size()) << '\n';
  return Finish("import", kExitOk);
}

// --- config ---------------------------------------------------------------------

// What set each value of `rtcache config`: the command line, a variable, or
// nothing (the default).
struct ConfigSources {
  std::optional<std::string> cache_option;  // --cache FILE
  bool log_flag = false;                    // --log
  bool lock_timeout_flag = false;           // --lock-timeout
  bool trust_flag = false;                  // --trust-others
};

constexpr const char* kKnownVariables[] = {
    "RTCACHE_DIR",   "RTCACHE_DISABLE",  "RTCACHE_LOG",          "RTCACHE_MAX_SIZE",
    "RTCACHE_NVRTC", "RTCACHE_READONLY", "RTCACHE_TRUST_OTHERS",
};

// The variable's value when it is set and not empty (as the library reads them).
const char* Variable(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

// A variable's value as `config` shows it: a name that says it holds a
// secret (SECRET, PASSWORD, TOKEN, KEY) shows "(set, hidden)", and a URL's
// password ("scheme://user:password@host") shows as "****", so that a
// configuration can be pasted into a bug report.
std::string Shown(std::string_view name, std::string value) {
  for (const char* word : {"SECRET", "PASSWORD", "TOKEN", "KEY"}) {
    if (name.find(word) != std::string_view::npos) return "(set, hidden)";
  }
  for (size_t scheme = value.find("://"); scheme != std::string::npos;
       scheme = value.find("://", scheme + 3)) {
    const size_t at = value.find('@', scheme + 3);
    const size_t colon = value.find(':', scheme + 3);
    const size_t end = value.find_first_of(" /", scheme + 3);
    if (at == std::string::npos || colon == std::string::npos || colon > at ||
        (end != std::string::npos && end < at)) {
      continue;
    }
    value.replace(colon + 1, at - colon - 1, "****");
  }
  return value;
}

// Every RTCACHE_* variable that is set, by name, secrets hidden (Shown).
std::map<std::string, std::string> RtcacheVariables() {
  std::map<std::string, std::string> variables;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text = *entry;
    const size_t equals = text.find('=');
    if (!text.starts_with("RTCACHE_") || equals == std::string_view::npos) continue;
    const std::string_view name = text.substr(0, equals);
    variables.emplace(std::string(name), Shown(name, std::string(text.substr(equals + 1))));
  }
  return variables;
}

// The effective configuration: which cache a command without FILE uses and
// why, the budget applications get, the switches, NVRTC, and every
// RTCACHE_* variable; each with what set it.
struct ConfigReport {
  std::string cache, cache_source, cache_problem;
  bool cache_exists = false, cache_writable = false;
  std::string cache_state = "-";
  uint64_t max_bytes = 0;
  const char* max_bytes_source = "default";
  int64_t lock_timeout_ms = 0;
  const char* lock_timeout_source = "default";
  bool trust_others = false, read_only = false, disabled = false;
  const char* trust_source = "default";
  const char* read_only_source = "default";
  LogLevel log_level = LogLevel::kWarning;
  const char* log_source = "default";
  Status nvrtc_status;
  std::string nvrtc, nvrtc_identity;
  std::map<std::string, std::string> environment;
};

ConfigReport GatherConfig(const Options& options, const ConfigSources& given) {
  ConfigReport r;
  if (given.cache_option) {
    r.cache = *given.cache_option;
    r.cache_source = "--cache";
  } else {
    DefaultCacheLocation where = default_cache_location();
    r.cache = where.path;
    r.cache_source = where.source;
    r.cache_problem = where.problem;
  }
  if (!r.cache.empty()) {
    FileInfo info;
    std::string why;
    if (Env::default_env()->stat(r.cache, /*follow_symlinks=*/true, &info).ok()) {
      r.cache_exists = true;
      r.cache_writable = Env::default_env()->writable(r.cache, &why);
      r.cache_state = r.cache_writable ? "present, writable" : "present, read-only: " + why;
    } else {
      // Whether the first save could create it: the nearest directory that
      // exists must let this user create in it (the save makes the rest).
      std::string dir = r.cache.substr(0, r.cache.find_last_of('/') + 1);
      while (dir.size() > 1 && ::access(dir.c_str(), F_OK) != 0) {
        dir = dir.substr(0, dir.find_last_of('/', dir.size() - 2) + 1);
      }
      r.cache_writable = !dir.empty() && ::access(dir.c_str(), W_OK | X_OK) == 0;
      r.cache_state = r.cache_writable ? "absent (the first save creates it)"
                                       : "absent, and " + dir + " is not writable by this user";
    }
  }
  // The budget an application's handle gets (Options::max_bytes left at 0);
  // this tool's commands evict only for prune --max-size.
  r.max_bytes = resolve_max_bytes(0, &r.max_bytes_source);
  r.lock_timeout_ms = options.lock_timeout.count();
  if (given.lock_timeout_flag) r.lock_timeout_source = "--lock-timeout";
  // The switches as the library resolves them for this tool's options (a
  // malformed value is one warning naming it).
  Options probe = options;
  probe.path.clear();
  const Options resolved = RuntimeCache::create(probe)->options();
  r.trust_others = resolved.trust_others;
  if (given.trust_flag) {
    r.trust_source = "--trust-others";
  } else if (resolved.trust_others) {
    r.trust_source = "RTCACHE_TRUST_OTHERS";
  }
  r.read_only = resolved.read_only;
  if (resolved.read_only) r.read_only_source = "RTCACHE_READONLY";
  r.log_level = log_level();
  LogLevel parsed;
  if (given.log_flag) {
    r.log_source = "--log";
  } else if (const char* text = Variable("RTCACHE_LOG"); text && parse_log_level(text, &parsed)) {
    r.log_source = "RTCACHE_LOG";
  }
  if (const char* text = Variable("RTCACHE_DISABLE")) (void)parse_bool(text, &r.disabled);
  r.nvrtc_status = locate_nvrtc(&r.nvrtc, &r.nvrtc_identity);
  r.environment = RtcacheVariables();
  return r;
}

void PrintConfigJson(const ConfigReport& r) {
  Json environment = Json::object();
  for (const auto& [name, value] : r.environment) environment[name] = value;
  PrintJson({{"cache", r.cache},
             {"cache_source", r.cache_source},
             {"cache_problem", r.cache_problem},
             {"cache_exists", r.cache_exists},
             {"cache_writable", r.cache_writable},
             {"max_bytes", r.max_bytes == kNoSizeLimit ? Json(nullptr) : Json(r.max_bytes)},
             {"max_bytes_source", r.max_bytes_source},
             {"lock_timeout_ms", r.lock_timeout_ms},
             {"trust_others", r.trust_others},
             {"read_only", r.read_only},
             {"log_level", log_level_name(r.log_level)},
             {"disabled", r.disabled},
             {"nvrtc_found", r.nvrtc_status.ok()},
             {"nvrtc", r.nvrtc},
             {"nvrtc_identity", r.nvrtc_identity},
             {"nvrtc_error", r.nvrtc_status.ok() ? std::string() : r.nvrtc_status.message()},
             {"environment", environment}});
}

void PrintConfigText(const ConfigReport& r) {
  auto yes_no = [](bool value) { return value ? "yes" : "no"; };
  std::cout << "cache:            "
            << (r.cache.empty() ? "none (" + r.cache_problem + ")"
                                : r.cache + " (" + r.cache_source + ")")
            << '\n'
            << "cache file:       " << r.cache_state << '\n'
            << "size cap:         "
            << (r.max_bytes == kNoSizeLimit ? std::string("no limit") : FormatBytes(r.max_bytes))
            << " (" << r.max_bytes_source << ")\n"
            << "lock timeout:     " << r.lock_timeout_ms << " ms (" << r.lock_timeout_source
            << ")\n"
            << "trust others:     " << yes_no(r.trust_others) << " (" << r.trust_source << ")\n"
            << "read only:        " << yes_no(r.read_only) << " (" << r.read_only_source << ")\n"
            << "log level:        " << log_level_name(r.log_level) << " (" << r.log_source << ")\n"
            << "disabled:         " << yes_no(r.disabled)
            << (r.disabled ? " (RTCACHE_DISABLE: engines use no cache by default)" : "") << '\n';
  if (r.nvrtc_status.ok()) {
    std::cout << "nvrtc:            " << r.nvrtc << '\n'
              << "nvrtc identity:   " << r.nvrtc_identity << '\n';
  } else {
    std::cout << "nvrtc:            not found: " << OneLine(r.nvrtc_status.message()) << '\n';
  }
  if (r.environment.empty()) std::cout << "environment:      no RTCACHE_* variable is set\n";
  const char* label = "environment:      ";
  for (const auto& [name, value] : r.environment) {
    const bool known = std::find(std::begin(kKnownVariables), std::end(kKnownVariables), name) !=
                       std::end(kKnownVariables);
    std::cout << label << name << '=' << value << (known ? "" : "  (not read by rtcache)") << '\n';
    label = "                  ";
  }
}

// `rtcache config`, as ccache -p. Always exit 0 (a missing cache or NVRTC is
// a finding, not a failure), unless stdout cannot be written.
int RunConfig(const Options& options, const ConfigSources& given, bool json) {
  const ConfigReport report = GatherConfig(options, given);
  if (json) {
    PrintConfigJson(report);
  } else {
    PrintConfigText(report);
  }
  return Finish("config", kExitOk);
}

// --- the command line -------------------------------------------------------------

constexpr const char* kFooter = R"(
Exit status: 0 success; 1 key not found (get) or file damaged (verify);
2 usage error, unreadable or foreign file, I/O error, lock timeout.
Errors are one line on stderr naming the file and the reason.

FILE may be left out: the cache is then --cache FILE, else the default cache
($RTCACHE_DIR/kernels.rtc, else $XDG_CACHE_HOME/rtcache/kernels.rtc, else
~/.cache/rtcache/kernels.rtc; rtcache config shows it). Where more arguments
follow FILE, the first is FILE unless --cache is given or there is one fewer
than the shortest form: get KEY, put KEY (stdin), rm KEY, export OUT,
import IN, merge IN.

KEY is taken as text; "hex:" followed by hex digits gives arbitrary bytes.
Keys (and metadata) are printed as text when printable ASCII, else as
"hex:" + hex, so that a printed key can be passed back as KEY.
SIZE takes a K, M, G or T suffix (powers of 1024): 512K, 2G, 1T.
DURATION takes an ms, s, m, h or d suffix (none: seconds): 1500ms, 90s, 12h, 30d.
--trust-others (or RTCACHE_TRUST_OTHERS=1) accepts cache files that other users
own or may write, as a group-shared cache needs; without it they are refused.
Times are printed as ISO-8601 UTC; in --json output they are integers,
nanoseconds since the Unix epoch (0: none).)";

// Validators with an empty description, so that help shows "SIZE", not "SIZE:SIZE".
CLI::Validator SizeValidator() {
  return CLI::Validator(
      [](std::string& text) {
        uint64_t bytes = 0;
        return parse_byte_size(text, &bytes)
                   ? std::string()
                   : "not a size (bytes, or with a K, M, G or T suffix): " + text;
      },
      "");
}

CLI::Validator DurationValidator() {
  return CLI::Validator(
      [](std::string& text) {
        std::chrono::milliseconds duration;
        return parse_duration(text, &duration)
                   ? std::string()
                   : "not a duration (a count with an ms, s, m, h or d suffix): " + text;
      },
      "");
}

CLI::Validator LogLevelValidator() {
  return CLI::Validator(
      [](std::string& text) {
        LogLevel level;
        return parse_log_level(text, &level)
                   ? std::string()
                   : "not a log level (debug, info, warning, error, off): " + text;
      },
      "");
}

// The first argument that is not a global option (or its value): what the
// user meant as the command, or an option nobody knows.
std::string FirstUnexpectedArgument(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--log" || arg == "--lock-timeout" || arg == "--max-value-size" ||
        arg == "--cache") {
      ++i;
    } else if (arg.starts_with("--log=") || arg.starts_with("--lock-timeout=") ||
               arg.starts_with("--max-value-size=") || arg.starts_with("--cache=") || arg == "-h" ||
               arg == "--help" || arg == "--version" || arg == "--trust-others") {
      continue;
    } else {
      return std::string(arg);
    }
  }
  return {};
}

// One line, exit 2, for every parse error: CLI11's own exit codes vary by
// error kind and its message spans two lines.
int ReportParseError(const CLI::App& app, const CLI::ParseError& error, int argc, char** argv) {
  const std::vector<CLI::App*> selected = app.get_subcommands();
  if (selected.empty() && dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
    // CLI11 reports both as "A subcommand is required".
    const std::string word = FirstUnexpectedArgument(argc, argv);
    if (word.empty()) return UsageError("", "a command is required");
    return UsageError("",
                      (word.starts_with("-") ? "unknown option: " : "unknown command: ") + word);
  }
  return UsageError(selected.empty() ? "" : selected.front()->get_name(), error.what());
}

// Help's "Usage:" line with a command's positional grammar as docs/cli.md
// writes it ("[FILE] KEY [INPUT]"): CLI11 would mark every positional
// optional, since which one is FILE depends on how many are given.
class UsageFormatter : public CLI::Formatter {
 public:
  void set_usage(const CLI::App* app, std::string positionals) {
    usages_[app] = std::move(positionals);
  }
  std::string make_usage(const CLI::App* app, std::string name) const override {
    auto it = usages_.find(app);
    if (it == usages_.end()) return CLI::Formatter::make_usage(app, std::move(name));
    return get_label("Usage") + ": " + name + " [" + get_label("OPTIONS") + "] " + it->second +
           "\n";
  }

 private:
  std::map<const CLI::App*, std::string> usages_;
};

// The command table: one block per command, read best in one place.
int Main(int argc, char** argv) {  // NOLINT(readability-function-size)
  CLI::App app("rtcache -- inspect, verify, repair, merge, prune and script rtcache cache files.",
               "rtcache");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command
  app.set_version_flag("--version", "rtcache " RTCACHE_VERSION);
  auto formatter = std::make_shared<UsageFormatter>();
  formatter->column_width(30);
  formatter->label("SUBCOMMAND", "COMMAND");
  app.formatter(formatter);  // before the commands, which share it

  std::string log_level_text, lock_timeout_text = "10s";
  app.add_option("--log", log_level_text,
                 "debug, info, warning, error or off (default: $RTCACHE_LOG, else warning)")
      ->type_name("LEVEL")
      ->check(LogLevelValidator());
  app.add_option("--lock-timeout", lock_timeout_text,
                 "Wait this long for another process holding the lock (default 10s)")
      ->type_name("DURATION")
      ->check(DurationValidator());
  std::string max_value_text;
  app.add_option("--max-value-size", max_value_text,
                 "Largest value to accept or serve (default and most: 1G)")
      ->type_name("SIZE")
      ->check(SizeValidator());
  bool trust_others = false;
  CLI::Option* trust_flag =
      app.add_flag("--trust-others", trust_others,
                   "Accept files other users own or may write (a group-shared cache); "
                   "also RTCACHE_TRUST_OTHERS=1");
  // The cache for every command, instead of FILE; also accepted after the
  // command (each command lists it in its help).
  std::string cache_text;
  const CLI::Validator not_empty(
      [](std::string& text) { return text.empty() ? std::string("FILE is empty") : std::string(); },
      "");
  const char* kCacheHelp = "The cache file, instead of FILE (default: the default cache)";
  CLI::Option* cache_flag =
      app.add_option("--cache", cache_text, kCacheHelp)->type_name("FILE")->check(not_empty);

  // Every command's arguments. Only one command runs, so they can share.
  // Positional arguments are read from each command's options after parsing
  // (Grammar), since which one is FILE depends on how many were given.
  std::string output, metadata, max_size, older_than;
  bool json = false;
  std::string warm_arch;
  std::vector<std::string> warm_options, warm_name_exprs, warm_sources, warm_headers;
  unsigned warm_jobs = 0;
  Options options;        // completed from the global options after parsing
  ConfigSources sources;  // what set each value, for config
  using Args = std::vector<std::string>;

  // Where a command's cache comes from: FILE among its positionals (Grammar),
  // --cache or the default cache only (warm), or nowhere (config).
  enum class CacheFrom { kPositionals, kOption, kNone };
  struct Command {
    CLI::App* app;
    CacheFrom from;
    Grammar grammar;
    std::function<int(const std::string& file, const Args& rest)> run;
  };
  std::vector<Command> commands;
  auto add_command = [&](const char* name, const char* summary, const std::string& details,
                         CacheFrom from, Grammar grammar,
                         std::function<int(const std::string&, const Args&)> run) {
    CLI::App* sub = app.add_subcommand(name, summary);
    sub->group("Commands");
    sub->footer("\n" + details + "\n" + kFooter);
    sub->add_option("--cache", cache_text, kCacheHelp)->type_name("FILE")->check(not_empty);
    if (from == CacheFrom::kPositionals) formatter->set_usage(sub, grammar.usage);
    commands.push_back({sub, from, grammar, std::move(run)});
    return sub;
  };
  // A positional argument, read after parsing (never required here: the
  // Grammar decides what is missing).
  auto add_positional = [](CLI::App* sub, const char* name, const char* help) {
    sub->add_option_function<std::string>(
           name, [](const std::string&) {}, help)
        ->type_name("");
  };
  auto add_positionals = [](CLI::App* sub, const char* name, const char* help) {
    sub->add_option_function<Args>(
           name, [](const Args&) {}, help)
        ->type_name("");
  };
  const char* kFileHelp = "Cache file (default: --cache, else the default cache)";
  const char* kKeyHelp = "Key: text, or hex:HEX";
  const char* kJsonHelp = "Print JSON instead (keys below)";

  CLI::App* sub = add_command(
      "info", "Show format version, entries, live/dead/file bytes, times",
      "Prints the format version, entry count, live bytes (records of live entries), dead\n"
      "bytes (superseded or erased records, old indexes, padding), file bytes, value bytes\n"
      "(decoded), the oldest and newest entry's creation, the last compaction and the saves\n"
      "since. JSON keys: file, format_version, entries, live_bytes, dead_bytes, file_bytes,\n"
      "value_bytes, oldest_created, newest_created, last_compaction, saves_since_compaction.",
      CacheFrom::kPositionals, {0, 0, "[FILE]"},
      [&](const std::string& file, const Args&) { return RunInfo(options, file, json); });
  add_positional(sub, "FILE", kFileHelp);
  sub->add_flag("--json", json, kJsonHelp);

  sub = add_command(
      "ls", "List entries: key, size, created, last used, metadata",
      "One line per entry, sorted by key: key, value size in bytes, created, last used,\n"
      "metadata. JSON: an array of objects with key, size, created, last_used, metadata,\n"
      "stored_size (bytes in the file) and compression (none or zstd).",
      CacheFrom::kPositionals, {0, 0, "[FILE]"},
      [&](const std::string& file, const Args&) { return RunLs(options, file, json); });
  add_positional(sub, "FILE", kFileHelp);
  sub->add_flag("--json", json, kJsonHelp);

  sub = add_command(
      "get", "Write an entry's value to stdout or OUT (exit 1 when absent)",
      "Writes the value's bytes to stdout, or to OUT with -o. Exit 1 when KEY is absent.\n"
      "A pure read: the use is not recorded and no lock is taken. With one argument, it is\n"
      "KEY, in the default cache (or --cache's).",
      CacheFrom::kPositionals, {1, 1, "[FILE] KEY"},
      [&](const std::string& file, const Args& rest) {
        std::string key;
        if (int e = ParseKeyArgument("get", rest[0], &key); e != kExitOk) return e;
        return RunGet(options, file, key, output.empty() ? "-" : output);
      });
  add_positional(sub, "FILE", kFileHelp);
  add_positional(sub, "KEY", kKeyHelp);
  sub->add_option("-o,--output", output, "Write the value to OUT instead of stdout")
      ->type_name("OUT");

  sub = add_command(
      "put", "Store a value from INPUT or stdin, saved at once under the lock",
      "Stores the bytes of INPUT (or stdin, also with -) under KEY and saves at once with\n"
      "the usual lock-and-merge, so it is safe while other processes use the file. FILE is\n"
      "created if absent. With one argument, it is KEY (the value from stdin), in the\n"
      "default cache (or --cache's); two are FILE KEY.",
      CacheFrom::kPositionals, {1, 2, "[FILE] KEY [INPUT]"},
      [&](const std::string& file, const Args& rest) {
        std::string key;
        if (int e = ParseKeyArgument("put", rest[0], &key); e != kExitOk) return e;
        return RunPut(options, file, key, rest.size() > 1 ? rest[1] : "-", metadata);
      });
  add_positional(sub, "FILE",
                 "Cache file, created if absent (default: --cache, else the "
                 "default cache)");
  add_positional(sub, "KEY", kKeyHelp);
  add_positional(sub, "INPUT", "File holding the value (default: stdin)");
  sub->add_option("-m,--metadata", metadata, "Metadata stored with the entry")->type_name("TEXT");

  sub = add_command(
      "rm", "Erase entries (recorded, so that merges do not bring them back)",
      "Erases each KEY and saves; prints \"removed KEY\" or \"not present: KEY\" per key.\n"
      "With one argument, it is KEY, in the default cache (or --cache's).",
      CacheFrom::kPositionals, {1, kAnyNumber, "[FILE] KEY..."},
      [&](const std::string& file, const Args& rest) {
        std::vector<std::string> decoded;
        for (const std::string& text : rest) {
          std::string key;
          if (int e = ParseKeyArgument("rm", text, &key); e != kExitOk) return e;
          decoded.push_back(std::move(key));
        }
        return RunRm(options, file, decoded);
      });
  add_positional(sub, "FILE", kFileHelp);
  add_positionals(sub, "KEY", "Keys: text, or hex:HEX");

  sub = add_command(
      "verify", "Check every record (exit 1 when damaged, 2 when not rtcache)",
      "Reads every byte and checks every checksum, also of records no index references.\n"
      "Exit 0 when intact; 1 when damaged, listing each damaged record's offset and reason;\n"
      "2 when FILE is not an rtcache file at all. JSON keys: file, ok, records (intact\n"
      "records), damaged (array of {offset, reason}).",
      CacheFrom::kPositionals, {0, 0, "[FILE]"},
      [&](const std::string& file, const Args&) { return RunVerify(options, file, json); });
  add_positional(sub, "FILE", kFileHelp);
  sub->add_flag("--json", json, kJsonHelp);

  sub = add_command(
      "repair", "Rewrite the file keeping every intact record",
      "Rewrites FILE under its lock keeping every intact record (the latest of each key\n"
      "wins) and reports the damaged records it dropped. JSON keys: file, kept (entries),\n"
      "dropped (array of {offset, reason}).",
      CacheFrom::kPositionals, {0, 0, "[FILE]"},
      [&](const std::string& file, const Args&) { return RunRepair(options, file, json); });
  add_positional(sub, "FILE", kFileHelp);
  sub->add_flag("--json", json, kJsonHelp);

  sub = add_command(
      "merge", "Unite caches IN... into OUT (created if absent)",
      "Adds to OUT, under OUT's lock, every entry of each IN that OUT lacks, keeping its\n"
      "creation and last-use times. On a key present in several files, OUT's entry wins,\n"
      "then the earliest IN's. With one argument, it is IN, merged into the default cache\n"
      "(or --cache's).",
      CacheFrom::kPositionals, {1, kAnyNumber, "[OUT] IN..."},
      [&](const std::string& file, const Args& rest) { return RunMerge(options, file, rest); });
  add_positional(sub, "OUT", "Cache file to merge into (default: --cache, else the default cache)");
  add_positionals(sub, "IN", "Cache files to merge from");

  sub = add_command(
      "prune", "Evict least recently used entries by size and/or age",
      "Removes least recently used entries first until live bytes are at most SIZE, and\n"
      "entries not used for DURATION; then compacts. Give at least one of the two. JSON\n"
      "keys: file, removed (keys), removed_bytes, live_bytes_after.",
      CacheFrom::kPositionals, {0, 0, "[FILE]"}, [&](const std::string& file, const Args&) {
        return RunPrune(options, file, max_size, older_than, json);
      });
  add_positional(sub, "FILE", kFileHelp);
  sub->add_option("--max-size", max_size, "Keep at most this many live bytes (0: no limit)")
      ->type_name("SIZE")
      ->check(SizeValidator());
  sub->add_option("--older-than", older_than, "Remove entries not used for this long")
      ->type_name("DURATION")
      ->check(DurationValidator());
  sub->add_flag("--json", json, kJsonHelp);

  sub =
      add_command("compact", "Rewrite the file without dead bytes",
                  "Rewrites FILE under its lock without superseded or erased records.",
                  CacheFrom::kPositionals, {0, 0, "[FILE]"},
                  [&](const std::string& file, const Args&) { return RunCompact(options, file); });
  add_positional(sub, "FILE", kFileHelp);

  sub = add_command(
      "clear", "Delete the cache file under its lock (a way out of a full disk)",
      "Deletes FILE under its lock, with the checks of a save: a symbolic link, a file that\n"
      "is not an rtcache file and an untrusted file are refused. Needs no disk space.\n"
      "Processes using the cache start a new file at their next save.",
      CacheFrom::kPositionals, {0, 0, "[FILE]"},
      [&](const std::string& file, const Args&) { return RunClear(options, file); });
  add_positional(sub, "FILE", kFileHelp);

  sub = add_command(
      "export", "Write the portable serialized cache to OUT (- for stdout)",
      "Writes the byte string of serialize() (the file format, compacted) to OUT. With one\n"
      "argument, it is OUT, and the cache is the default cache (or --cache's).",
      CacheFrom::kPositionals, {1, 1, "[FILE] OUT"},
      [&](const std::string& file, const Args& rest) { return RunExport(options, file, rest[0]); });
  add_positional(sub, "FILE", kFileHelp);
  add_positional(sub, "OUT", "Output file, or - for stdout");

  sub = add_command(
      "import", "Merge a serialized cache from IN (- for stdin) into FILE",
      "Reads a byte string written by export or serialize() and saves its entries into FILE\n"
      "(created if absent) under its lock; they replace entries with equal keys. With one\n"
      "argument, it is IN, imported into the default cache (or --cache's).",
      CacheFrom::kPositionals, {1, 1, "[FILE] IN"},
      [&](const std::string& file, const Args& rest) { return RunImport(options, file, rest[0]); });
  add_positional(sub, "FILE",
                 "Cache file, created if absent (default: --cache, else the "
                 "default cache)");
  add_positional(sub, "IN", "Input file, or - for stdin");

  sub = add_command(
      "config", "Show the effective configuration: default cache, size cap, NVRTC, RTCACHE_*",
      "Prints the cache a command without FILE uses and what chose it (--cache, RTCACHE_DIR,\n"
      "XDG_CACHE_HOME or HOME), whether that file exists and may be written, the size cap\n"
      "applications get (the default, 1 GiB, or RTCACHE_MAX_SIZE; this tool itself evicts\n"
      "only for prune), the lock timeout, trust, read-only, log level, RTCACHE_DISABLE,\n"
      "where NVRTC is (or why it is not found), and every RTCACHE_* variable that is set.\n"
      "Exit 0 even when no cache or no NVRTC is found. JSON keys: cache, cache_source,\n"
      "cache_problem, cache_exists, cache_writable, max_bytes (null: no limit),\n"
      "max_bytes_source, lock_timeout_ms, trust_others, read_only, log_level, disabled,\n"
      "nvrtc_found, nvrtc, nvrtc_identity, nvrtc_error, environment (name: value).",
      CacheFrom::kNone, {},
      [&](const std::string&, const Args&) { return RunConfig(options, sources, json); });
  sub->add_flag("--json", json, kJsonHelp);

  sub = add_command(
      "warm", "Pre-compile kernels into the cache (at image-build time)",
      "Compiles kernels of the sources for ARCH with NVRTC through the cache: the given name\n"
      "expressions, else every kernel NVRTC emits for each source (each __global__ function\n"
      "needing no template arguments, each explicit template instance: read from the PTX,\n"
      "so comments, attributes and namespaces cannot hide one). With several sources, a\n"
      "name expression goes to those that name its identifier. Give what the application\n"
      "gives its engines: --option values in the same order as EngineConfig::options, the\n"
      "same ARCH, and each EngineConfig::headers entry as --header NAME=FILE; then the keys\n"
      "agree and the application compiles nothing. Progress: a bar on a terminal, else a\n"
      "line per kernel on stderr; a failure prints NVRTC's whole log. Duplicates compile\n"
      "once. Without --cache, the kernels go to the default cache.\n"
      "Exit 0 when every kernel is compiled or cached; 1 when one failed to compile or a\n"
      "name expression names nothing; 2 for an unreadable source or header, no kernels.",
      CacheFrom::kOption, {}, [&](const std::string& file, const Args&) {
        WarmRequest request;
        request.cache_path = file;
        request.arch = warm_arch;
        request.compile_options = warm_options;
        request.name_expressions = warm_name_exprs;
        request.sources = warm_sources;
        request.headers = warm_headers;
        request.jobs = warm_jobs;
        return cli::run_warm(options, request);
      });
  sub->add_option("--arch", warm_arch, "Target architecture, e.g. sm_90")
      ->required()
      ->type_name("ARCH");
  sub->add_option("--option", warm_options, "Compiler option (repeatable)")
      ->type_name("OPT")
      ->allow_extra_args(false);
  sub->add_option("--name-expr", warm_name_exprs, "Kernel name expression (repeatable)")
      ->type_name("EXPR")
      ->allow_extra_args(false);
  sub->add_option("--header", warm_headers,
                  "In-memory header NAME with FILE's contents, as EngineConfig::headers "
                  "(repeatable)")
      ->type_name("NAME=FILE")
      ->allow_extra_args(false);
  sub->add_option("-j,--jobs", warm_jobs, "Parallel compiles (default: one per core)")
      ->type_name("N")
      ->check(CLI::Range(1u, 1024u));
  sub->add_option("SOURCE.cu", warm_sources, "CUDA sources")->required()->type_name("");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(error);  // --help, --version
    }
    return ReportParseError(app, error, argc, argv);
  }

  if (!log_level_text.empty()) {
    LogLevel level = LogLevel::kWarning;
    (void)parse_log_level(log_level_text, &level);  // validated by the parser
    set_log_level(level);
  }
  (void)parse_duration(lock_timeout_text, &options.lock_timeout);  // validated by the parser
  options.trust_others = trust_others;  // else the library reads RTCACHE_TRUST_OTHERS
  if (!max_value_text.empty()) {
    (void)parse_byte_size(max_value_text, &options.max_value_bytes);  // validated by the parser
  }
  // Commands evict only for their own arguments (prune --max-size), never for
  // the default budget or RTCACHE_MAX_SIZE: those are the applications', and
  // an operator's shell that exports it must not turn `import` or `put` into
  // an eviction.
  options.max_bytes = kNoSizeLimit;
  sources.log_flag = !log_level_text.empty();
  sources.lock_timeout_flag = app.get_option("--lock-timeout")->count() > 0;
  sources.trust_flag = trust_flag->count() > 0;

  for (const Command& command : commands) {
    if (!command.app->parsed()) continue;
    const std::string name = command.app->get_name();
    // --cache, given before or after the command (at most once).
    const size_t cache_count = cache_flag->count() + command.app->get_option("--cache")->count();
    if (cache_count > 1) return UsageError(name, "--cache given more than once");
    if (cache_count == 1) sources.cache_option = cache_text;
    std::string file;
    Args rest;
    if (command.from == CacheFrom::kPositionals) {
      Args args;
      for (const CLI::Option* positional :
           command.app->get_options([](const CLI::Option* o) { return o->get_positional(); })) {
        for (const std::string& value : positional->results()) args.push_back(value);
      }
      const int e =
          SplitPositionals(name, command.grammar, sources.cache_option, args, &file, &rest);
      if (e != kExitOk) return e;
    } else if (command.from == CacheFrom::kOption) {
      file = sources.cache_option.value_or("");
      if (file.empty()) {
        Status s = DefaultCache(&file);
        if (!s.ok()) return Fail(name, s);
      }
    }
    return command.run(file, rest);
  }
  return kExitError;  // unreachable: require_subcommand(1)
}

}  // namespace
}  // namespace rtcache::cli

int main(int argc, char** argv) {
  // Nothing below throws for expected failures (they are Status values); this
  // keeps even an unexpected one (out of memory) to the one-line, exit-2 rule.
  try {
    return rtcache::cli::Main(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "rtcache: " << rtcache::cli::OneLine(error.what()) << '\n';
    return rtcache::cli::kExitError;
  }
}

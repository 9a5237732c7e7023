// Binds include/rtcache/runtime_cache.h: RuntimeCache (a handle on one cache
// file), CacheStats, EntryInfo and exit_registry_size(), with the helpers the
// other binding files share (bytes, paths, binary file-like objects).
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "bindings.h"

namespace rtcache::python {

std::string type_name(py::handle obj) {
  return py::str(py::type::handle_of(obj).attr("__name__"));
}

py::bytes to_bytes(const Bytes& b) {
  return py::bytes(b.data(), b.size());
}

std::string copy_buffer(const py::handle& data) {
  Py_buffer view;
  if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
  std::string bytes(static_cast<const char*>(view.buf), static_cast<size_t>(view.len));
  PyBuffer_Release(&view);
  return bytes;
}

py::object path_object(const std::string& path) {
  return py::cast(FsPath{path});
}

std::string repr_of(const char* type,
                    std::initializer_list<std::pair<const char*, py::object>> fields) {
  std::string out = std::string(type) + "(";
  const char* separator = "";
  for (const auto& [name, value] : fields) {
    out += separator + std::string(name) + "=" + std::string(py::repr(value));
    separator = ", ";
  }
  return out + ")";
}

std::string cache_repr(RuntimeCache& self) {
  return repr_of("RuntimeCache", {{"path", path_object(self.path())},
                                  {"autosave_on_del", py::bool_(self.autosave_on_del())},
                                  {"entries", py::cast(self.size())}});
}

namespace {

// TypeError unless `stream` has the method.
void require(const py::object& stream, const char* method, const char* who) {
  if (!py::hasattr(stream, method)) {
    raise_builtin(PyExc_TypeError, std::string(who) + ": expected a binary file-like object with " +
                                       method + "(), not " + type_name(stream));
  }
}

}  // namespace

std::string read_stream(const py::object& stream, const char* who) {
  require(stream, "read", who);
  py::object data = stream.attr("read")();
  if (data.is_none()) return {};  // a non-blocking stream with nothing to read
  if (!PyObject_CheckBuffer(data.ptr())) {
    raise_builtin(PyExc_TypeError, std::string(who) + ": read() returned " + type_name(data) +
                                       ", not bytes; open the stream in binary mode");
  }
  return copy_buffer(data);
}

void write_all(const py::object& stream, std::string_view bytes, const char* who) {
  require(stream, "write", who);
  py::object write = stream.attr("write");
  py::bytes data(bytes.data(), bytes.size());
  py::memoryview view(data);
  size_t done = 0;
  do {
    py::object result = done == 0
                            ? write(data)
                            : write(view[py::slice(static_cast<py::ssize_t>(done),
                                                   static_cast<py::ssize_t>(bytes.size()), 1)]);
    // None (some writers return nothing): all of it was written.
    const size_t n = py::isinstance<py::int_>(result) ? result.cast<size_t>() : bytes.size() - done;
    if (n == 0 && !bytes.empty())
      raise_builtin(PyExc_OSError, std::string(who) + ": write() wrote nothing");
    done += n;
  } while (done < bytes.size());
}

namespace {

// Keys are str (stored as UTF-8) or bytes; reported as str when they decode.
py::object key_object(const std::string& key) {
  PyObject* text = PyUnicode_DecodeUTF8(key.data(), static_cast<Py_ssize_t>(key.size()), "strict");
  if (text != nullptr) return py::reinterpret_steal<py::object>(text);
  PyErr_Clear();
  return py::bytes(key);
}

size_t load_from_stream(RuntimeCache& self, const py::object& stream) {
  const std::string bytes = read_stream(stream, "load_from_stream");
  check(released([&] { return self.deserialize(bytes); }));
  return bytes.size();
}

size_t save_to_stream(RuntimeCache& self, const py::object& stream) {
  require(stream, "write", "save_to_stream");  // before the work
  std::string bytes;
  check(released([&] { return self.serialize(&bytes); }));
  write_all(stream, bytes, "save_to_stream");
  return bytes.size();
}

constexpr int kPickleVersion = 1;

// The handle's own attributes (its __dict__) travel with it, under
// "attributes" when it has any (the state is otherwise the original's); they
// are never what the exit hook calls.
py::dict get_state(const py::object& object) {
  RuntimeCache& self = object.cast<RuntimeCache&>();
  std::string bytes;
  check(released([&] { return self.serialize(&bytes); }));
  py::dict state;
  state["version"] = kPickleVersion;
  state["path"] = path_object(self.path());
  state["autosave_on_del"] = self.autosave_on_del();
  py::dict options = options_dict(self.options());
  options["compression"] = static_cast<int>(self.options().compression);
  state["options"] = options;
  state["entries"] = py::bytes(bytes);
  // No exit token: a registration belongs to one process and one handle.
  const py::dict attributes = object.attr("__dict__");
  if (!attributes.empty()) state["attributes"] = attributes;
  return state;
}

std::pair<PyCache, py::dict> set_state(const py::dict& state) {
  if (!state.contains("version") || state["version"].cast<int>() != kPickleVersion) {
    raise(Status::InvalidArgument("RuntimeCache: unsupported pickle state"));
  }
  Options options = options_from_dict(state["options"].cast<py::dict>());
  options.path = state["path"].cast<FsPath>().value;
  // Autosave is turned on only once the entries are in: a restore that fails
  // midway leaves a handle that is dropped silently and saves nothing (O14).
  std::shared_ptr<RuntimeCache> cache = RuntimeCache::create(options);
  const std::string bytes = state["entries"].cast<std::string>();
  check(released([&] { return cache->deserialize(bytes); }));
  if (state["autosave_on_del"].cast<bool>()) cache->set_autosave_on_del(true);
  py::dict attributes;
  if (state.contains("attributes")) attributes = state["attributes"].cast<py::dict>();
  return {PyCache(std::move(cache)), attributes};
}

const char* const kRuntimeCacheDoc = R"doc(
A handle on one persistent kernel cache (rtcache::RuntimeCache).

RuntimeCache(path="", autosave_on_del=False, *, lock_timeout=10.0, ...) makes a
handle and does no I/O: call load() to read the file. path "" keeps the cache in
memory only. Handles compare by identity, never by path: two handles on one path
are two caches, and each merges into the file when it saves.

With autosave_on_del the handle is saved exactly once, by whichever comes first:
its destruction, or rtcache's exit hook for handles still alive when the process
exits normally. Errors on those paths are logged (logger "rtcache"), never raised.

Options (keyword-only; see include/rtcache/options.h). Durations are seconds, a
timedelta or a string such as "1500ms", "10s", "2h"; sizes are bytes or a string
such as "64K", "512MiB", "1T" (rtcache's grammar, as for the CLI; a malformed one
raises InvalidArgumentError naming it): lock_timeout (duration), compression
(Compression.ZSTD or NONE), compression_level, sync, file_mode, dir_mode,
compaction_dead_ratio, compaction_min_dead_bytes (size), last_use_resolution
(duration), max_value_bytes (size), max_bytes (size budget: least recently used
entries are evicted at save; 0 = RTCACHE_MAX_SIZE when set, where 0 is no limit,
else 1 GiB; 2**64 - 1 = no limit), checkpoint_interval
(duration; periodic background saves; 0 = off), read_only (hits only: nothing is
written; also RTCACHE_READONLY=1, and found on its own when load() reads a file this
user cannot change; see the read_only property), trust_others (accept files owned
by others or writable by group/others).

pickle and copy.deepcopy give a new handle with the same path, options,
autosave flag and entries, and its own exit registration. A handle takes
attributes as any Python object does (pickle keeps them); setting one named
like a method (save, say) changes what Python callers get, never what the exit
hook or the engines call: they call the C++ handle.
)doc";

using CacheClass = py::class_<RuntimeCache, PyCache>;

void define_constructor(CacheClass& cls) {
  using std::chrono::seconds;
  cls.def(py::init([](const FsPath& path, bool autosave_on_del, Duration lock_timeout,
                      Compression compression, int compression_level, bool sync, uint32_t file_mode,
                      uint32_t dir_mode, double compaction_dead_ratio,
                      ByteSize compaction_min_dead_bytes, Duration last_use_resolution,
                      ByteSize max_value_bytes, ByteSize max_bytes, Duration checkpoint_interval,
                      bool trust_others, bool read_only) {
            Options o;
            o.path = path.value;
            o.autosave_on_del = autosave_on_del;
            o.lock_timeout = lock_timeout.value;
            o.compression = compression;
            o.compression_level = compression_level;
            o.sync = sync;
            o.file_mode = file_mode;
            o.dir_mode = dir_mode;
            o.compaction_dead_ratio = compaction_dead_ratio;
            o.compaction_min_dead_bytes = compaction_min_dead_bytes.value;
            o.last_use_resolution = std::chrono::duration_cast<seconds>(last_use_resolution.value);
            o.max_value_bytes = max_value_bytes.value;
            o.max_bytes = max_bytes.value;
            o.checkpoint_interval = checkpoint_interval.value;
            o.trust_others = trust_others;
            o.read_only = read_only;
            return PyCache(RuntimeCache::create(o));
          }),
          py::arg("path") = FsPath{}, py::arg("autosave_on_del") = false, py::kw_only(),
          py::arg("lock_timeout") = Duration{seconds(10)},
          py::arg("compression") = Compression::kZstd, py::arg("compression_level") = 1,
          py::arg("sync") = true, py::arg("file_mode") = 0600u, py::arg("dir_mode") = 0700u,
          py::arg("compaction_dead_ratio") = 0.5,
          py::arg("compaction_min_dead_bytes") = ByteSize{4u << 20},
          py::arg("last_use_resolution") = Duration{seconds(600)},
          py::arg("max_value_bytes") = ByteSize{1ull << 30}, py::arg("max_bytes") = ByteSize{0},
          py::arg("checkpoint_interval") = Duration{seconds(0)}, py::arg("trust_others") = false,
          py::arg("read_only") = false);
}

void define_properties(CacheClass& cls) {
  cls.def_property_readonly(
         "path", [](const RuntimeCache& self) { return FsPath{self.path()}; },
         "The cache file ('' for an in-memory cache).")
      .def_property(
          "autosave_on_del", &RuntimeCache::autosave_on_del,
          [](RuntimeCache& self, bool on) { self.set_autosave_on_del(on); },
          "Save on destruction or at exit. Turning it on registers the handle with the exit "
          "hook; off unregisters it.")
      .def_property_readonly("read_only", &RuntimeCache::read_only,
                             "Hits only (the option, RTCACHE_READONLY, or a file load() found "
                             "unchangeable): autosave does nothing, save() to its own file raises "
                             "CachePermissionError.")
      .def_property_readonly("exit_token", &RuntimeCache::exit_token,
                             "This handle's exit-hook registration (0 when not registered).")
      .def_property_readonly(
          "options", [](const RuntimeCache& self) { return options_dict(self.options()); },
          "The options the handle was made with, as a dict (durations in seconds, sizes in "
          "bytes).")
      .def_property_readonly("stats", &RuntimeCache::stats, "A CacheStats snapshot.")
      .def_property_readonly("has_unsaved_changes", &RuntimeCache::has_unsaved_changes,
                             "Whether save() would write something.")
      .def("__len__", &RuntimeCache::size)
      .def(
          "__bool__", [](const RuntimeCache&) { return true; }, "A handle is true, even empty.")
      .def(
          "__eq__",
          [](const RuntimeCache& self, const py::object& other) -> py::object {
            if (!py::isinstance<RuntimeCache>(other))
              return py::reinterpret_borrow<py::object>(Py_NotImplemented);
            return py::bool_(&self == &other.cast<const RuntimeCache&>());
          },
          py::is_operator())
      .def("__hash__", [](const RuntimeCache& self) { return std::hash<const void*>()(&self); })
      .def("__repr__", &cache_repr);
}

const char* const kGetDoc = R"doc(
The value for `key` (str or bytes) as bytes, or `default` when there is none.

A damaged value (its checksum fails) raises CorruptionError naming the file and
the record's offset, as the C++ get() and the CLI report it; rtcache drops that
entry (and logs it), so a later get() of the key is a miss.
)doc";

void define_entries(CacheClass& cls) {
  cls.def(
         "get",
         [](RuntimeCache& self, std::string_view key, py::object default_value) -> py::object {
           Bytes value;
           const Status s = released([&] { return self.get(key, &value); });
           if (s.is_not_found()) return default_value;
           check(s);
           return to_bytes(value);
         },
         py::arg("key"), py::arg("default") = py::none(), kGetDoc)
      .def(
          "put",
          [](RuntimeCache& self, std::string_view key, const py::buffer& value,
             std::string_view metadata) {
            Bytes bytes(copy_buffer(value));
            // Refused loudly here, where the C++ put() only warns.
            check(self.check_put(key, bytes.size(), metadata.size()));
            released([&] { self.put(key, std::move(bytes), metadata); });
          },
          py::arg("key"), py::arg("value"), py::arg("metadata") = "",
          "Inserts or replaces; the value (bytes-like) is kept in memory until saved. "
          "InvalidArgumentError (a ValueError) for a key or metadata over 1 MiB or a value "
          "over max_value_bytes: nothing is stored that could not be read back.")
      .def(
          "erase",
          [](RuntimeCache& self, std::string_view key) {
            return released([&] { return self.erase(key); });
          },
          py::arg("key"), "Removes the entry (also from the file at the next save).")
      .def(
          "reset", [](RuntimeCache& self) { released([&] { self.reset(); }); },
          "Erases every entry this handle knows.")
      .def("__contains__",
           [](RuntimeCache& self, std::string_view key) {
             return released([&] { return self.contains(key); });
           })
      .def(
          "entries",
          [](RuntimeCache& self) {
            std::vector<EntryInfo> out;
            check(released([&] { return self.entries(&out); }));
            return out;
          },
          "Every live entry (EntryInfo), sorted by key.");
}

void define_bytes_and_streams(CacheClass& cls) {
  cls.def(
         "serialize",
         [](RuntimeCache& self) {
           std::string out;
           check(released([&] { return self.serialize(&out); }));
           return py::bytes(out);
         },
         "The whole cache as bytes (the file format, compacted).")
      .def(
          "deserialize",
          [](RuntimeCache& self, const py::buffer& data) {
            const std::string bytes = copy_buffer(data);
            check(released([&] { return self.deserialize(bytes); }));
          },
          py::arg("data"),
          "Merges serialize() bytes in (saved by the next save()); empty input is a no-op. "
          "Raises CorruptionError for damaged bytes, NotACacheFileError for foreign ones.")
      .def("save_to_stream", &save_to_stream, py::arg("stream"),
           "Writes serialize() to a binary file-like object once; returns the byte count.")
      .def("load_from_stream", &load_from_stream, py::arg("stream"),
           "Reads a binary file-like object to its end and deserializes it; returns the byte "
           "count (0: it was empty, a no-op).")
      .def(py::pickle(&get_state, &set_state));
}

// load() and save(): a path, or None for the handle's own; without the GIL.
template <Status (RuntimeCache::*method)(const std::string&)>
void with_path(RuntimeCache& self, const std::optional<FsPath>& path) {
  const std::string target = path ? path->value : std::string();
  check(released([&] { return (self.*method)(target); }));
}

void define_files(CacheClass& cls) {
  cls.def("load", &with_path<&RuntimeCache::load>, py::arg("path") = py::none(),
          "Reads the file (this handle's path when None). No-op when there is no target or the "
          "file does not exist yet. NotACacheFileError (a CorruptionError) for an empty or "
          "foreign file or a directory.")
      .def("save", &with_path<&RuntimeCache::save>, py::arg("path") = py::none(),
           "Merges this handle's changes into the file (this handle's path when None) under "
           "the inter-process lock. No-op when there is no target or nothing changed.")
      .def(
          "compact", [](RuntimeCache& self) { check(released([&] { return self.compact(); })); },
          "Rewrites the file without dead bytes, under the lock.")
      .def(
          "autosave_now",
          [](RuntimeCache& self) { return released([&] { return self.autosave_now(); }); },
          "Saves now if autosave is on, turning it off first (what destruction and the exit "
          "hook call). Errors are logged. Returns whether a save ran.")
      .def_static(
          "implicit_for",
          [](const FsPath& path) {
            return PyCache(released([&] { return RuntimeCache::implicit_for(path.value); }));
          },
          py::arg("path"),
          "The engine-implicit handle for `path` in this process (autosave on, loaded on "
          "first creation), shared by everyone who asks while it is alive.");
}

void define_copies(CacheClass& cls) {
  auto clone = [](const RuntimeCache& self) { return PyCache(self.clone()); };
  cls.def("clone", clone,
          "A new handle with the same options and entries and its own exit registration.")
      .def("__copy__", clone)
      .def(
          "__deepcopy__",
          [](const RuntimeCache& self, const py::dict&) { return PyCache(self.clone()); },
          py::arg("memo"));
}

void define_stats(py::module_& m) {
  py::class_<CacheStats>(m, "CacheStats", "Counters of a handle since it was made.")
      .def_readonly("entries", &CacheStats::entries)
      .def_readonly("live_bytes", &CacheStats::live_bytes)
      .def_readonly("hits", &CacheStats::hits)
      .def_readonly("misses", &CacheStats::misses)
      .def_readonly("puts", &CacheStats::puts)
      .def_readonly("erases", &CacheStats::erases)
      .def_readonly("bytes_loaded", &CacheStats::bytes_loaded)
      .def_readonly("bytes_saved", &CacheStats::bytes_saved)
      .def_readonly("saves", &CacheStats::saves)
      .def_readonly("save_failures", &CacheStats::save_failures)
      .def_readonly("compactions", &CacheStats::compactions)
      .def_readonly("damaged_records", &CacheStats::damaged_records)
      .def_readonly("evictions", &CacheStats::evictions)
      .def_readonly("rejected_puts", &CacheStats::rejected_puts)
      .def("__repr__", [](const CacheStats& s) {
        return repr_of("CacheStats", {{"entries", py::cast(s.entries)},
                                      {"hits", py::cast(s.hits)},
                                      {"misses", py::cast(s.misses)},
                                      {"puts", py::cast(s.puts)},
                                      {"saves", py::cast(s.saves)},
                                      {"save_failures", py::cast(s.save_failures)}});
      });

  py::class_<EntryInfo>(m, "EntryInfo", "Facts about one entry, as listed by entries().")
      .def_property_readonly("key", [](const EntryInfo& e) { return key_object(e.key); })
      .def_readonly("value_size", &EntryInfo::value_size)
      .def_readonly("stored_size", &EntryInfo::stored_size)
      .def_readonly("created_ns", &EntryInfo::created_ns)
      .def_readonly("last_used_ns", &EntryInfo::last_used_ns)
      .def_readonly("metadata", &EntryInfo::metadata)
      .def_readonly("encoding", &EntryInfo::encoding)
      .def("__repr__", [](const EntryInfo& e) {
        return repr_of("EntryInfo", {{"key", key_object(e.key)},
                                     {"value_size", py::cast(e.value_size)},
                                     {"metadata", py::str(e.metadata)}});
      });
}

}  // namespace

void define_cache(py::module_& m) {
  define_stats(m);
  // dynamic_attr: handles take attributes (annotations, test doubles that
  // replace save on an instance); the exit hook calls C++, never them.
  CacheClass cls(m, "RuntimeCache", kRuntimeCacheDoc, py::dynamic_attr());
  define_constructor(cls);
  define_properties(cls);
  define_entries(cls);
  define_bytes_and_streams(cls);
  define_files(cls);
  define_copies(cls);
  m.def("exit_registry_size", &exit_registry_size,
        "Number of live handles registered with the exit hook in this process.");
}

}  // namespace rtcache::python

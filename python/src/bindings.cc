// rtcache._rtcache -- the pybind11 extension behind the `rtcache` package.
//
// Design
//   Handles. Python holds a RuntimeCache through a PyHandle, a holder whose
//   destructor drops the last reference without the GIL: that runs the
//   destructor's autosave (file I/O, an fsync, perhaps a wait for the file
//   lock), which must not stall other Python threads. Engines and
//   RuntimeSettings (which may hold the last reference to a handle) are held
//   by unique_ptrs with a deleter doing the same. RuntimeCache derives from
//   enable_shared_from_this, so pybind11 builds every holder from
//   shared_from_this() and finds a handle's live Python object by its address:
//   a handle has one Python identity at a time (engine.runtime_cache is the
//   object the user made).
//
//   The GIL is released around every call that may do I/O, compile, wait for
//   the inter-process lock or contend with a save running on another thread.
//
//   Errors. A non-OK Status raises the exception class for its code (the
//   table in define_exceptions); the message is Status::message(), naming the
//   file and the reason.
//
//   Logging. rtcache's log sink forwards to logging.getLogger("rtcache") while
//   the interpreter runs. An atexit callback, which Python runs before it
//   tears anything down, puts the previous sink (rtcache's stderr sink) back
//   and waits for messages in flight, so that nothing rtcache does during
//   finalization or in its C++ exit hook (destructor autosaves, the exit-hook
//   saves after Py_Finalize) ever calls into Python.
// clang-format off
#include <pybind11/pybind11.h>  // first: Python.h must precede the system headers
#include <pybind11/stl.h>
// clang-format on

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "rtcache/rtcache.h"
#include "rtcache/signals.h"

namespace py = pybind11;

#ifndef RTCACHE_VERSION
#define RTCACHE_VERSION "0"
#endif

namespace rtcache::python {

// A file-system path argument: str, bytes or os.PathLike (None is not one).
struct FsPath {
  std::string value;
};

// A duration argument: seconds (int or float) or a datetime.timedelta.
struct Seconds {
  double value = 0;
};

}  // namespace rtcache::python

namespace pybind11::detail {

template <>
struct type_caster<rtcache::python::FsPath> {
  PYBIND11_TYPE_CASTER(rtcache::python::FsPath, const_name("str | os.PathLike"));

  bool load(handle src, bool /*convert*/) {
    if (src.is_none()) return false;
    object fspath = reinterpret_steal<object>(PyOS_FSPath(src.ptr()));
    if (!fspath) {
      PyErr_Clear();
      return false;
    }
    if (PyUnicode_Check(fspath.ptr())) {
      fspath = reinterpret_steal<object>(PyUnicode_EncodeFSDefault(fspath.ptr()));
      if (!fspath) {
        PyErr_Clear();
        return false;
      }
    }
    char* data = nullptr;
    Py_ssize_t size = 0;
    if (PyBytes_AsStringAndSize(fspath.ptr(), &data, &size) != 0) {
      PyErr_Clear();
      return false;
    }
    value.value.assign(data, static_cast<size_t>(size));
    return true;
  }

  static handle cast(const rtcache::python::FsPath& path, return_value_policy, handle) {
    return PyUnicode_DecodeFSDefaultAndSize(path.value.data(),
                                            static_cast<Py_ssize_t>(path.value.size()));
  }
};

template <>
struct type_caster<rtcache::python::Seconds> {
  PYBIND11_TYPE_CASTER(rtcache::python::Seconds, const_name("float | datetime.timedelta"));

  bool load(handle src, bool /*convert*/) {
    object seconds;
    if (PyFloat_Check(src.ptr()) || (PyLong_Check(src.ptr()) && !PyBool_Check(src.ptr()))) {
      seconds = reinterpret_borrow<object>(src);
    } else if (hasattr(src, "total_seconds")) {  // datetime.timedelta
      seconds = src.attr("total_seconds")();
    } else {
      return false;
    }
    value.value = PyFloat_AsDouble(seconds.ptr());
    if (PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    return true;
  }

  static handle cast(const rtcache::python::Seconds& s, return_value_policy, handle) {
    return PyFloat_FromDouble(s.value);
  }
};

}  // namespace pybind11::detail

namespace rtcache::python {
namespace {

// --- the interpreter and the GIL ------------------------------------------------------

// Whether calling into Python is allowed at all: not before initialization and
// not once finalization has begun.
bool python_running() {
  if (!Py_IsInitialized()) return false;
#if PY_VERSION_HEX >= 0x030D0000
  return !Py_IsFinalizing();
#else
  return !_Py_IsFinalizing();
#endif
}

bool this_thread_holds_gil() {
#if PY_VERSION_HEX >= 0x030D0000
  return PyThreadState_GetUnchecked() != nullptr;
#else
  return _PyThreadState_UncheckedGet() != nullptr;
#endif
}

// Runs fn without the GIL when this thread holds it; during finalization the
// GIL is kept (other threads must not start running Python then).
template <typename F>
void without_gil(F&& fn) {
  if (python_running() && this_thread_holds_gil()) {
    py::gil_scoped_release release;
    fn();
  } else {
    fn();
  }
}

// Calls fn with the GIL released and returns its result. Use only where the
// GIL is held (a bound function's body).
template <typename F>
auto released(F&& fn) {
  py::gil_scoped_release release;
  return fn();
}

// Drops a reference to a handle; the last one without the GIL.
template <typename T>
void drop(std::shared_ptr<T>& ptr) {
  if (ptr.use_count() == 1) {
    without_gil([&] { ptr.reset(); });
  } else {
    ptr.reset();
  }
}

// The pybind11 holder of RuntimeCache objects: see "Handles" above.
template <typename T>
class PyHandle {
 public:
  using element_type = T;

  PyHandle() = default;
  // Only used by pybind11 for an object no shared_ptr owns (never the case:
  // handles are made by RuntimeCache::create).
  explicit PyHandle(T* raw) : ptr_(raw) {}
  PyHandle(std::shared_ptr<T> ptr) : ptr_(std::move(ptr)) {}  // NOLINT: implicit on purpose
  PyHandle(const PyHandle&) = default;
  PyHandle(PyHandle&&) noexcept = default;
  PyHandle& operator=(const PyHandle&) = default;
  PyHandle& operator=(PyHandle&&) noexcept = default;
  ~PyHandle() { drop(ptr_); }

  T* get() const { return ptr_.get(); }

 private:
  std::shared_ptr<T> ptr_;
};

// Deletes without the GIL: for holders of objects that may hold the last
// reference to a handle, or save one (~Engine saves its implicit handle).
template <typename T>
struct GilFreeDelete {
  void operator()(T* object) const {
    without_gil([object] { delete object; });
  }
};

template <typename T>
using GilFreeUnique = std::unique_ptr<T, GilFreeDelete<T>>;

}  // namespace
}  // namespace rtcache::python

PYBIND11_DECLARE_HOLDER_TYPE(T, rtcache::python::PyHandle<T>)

namespace rtcache::python {
namespace {

using PyCache = PyHandle<RuntimeCache>;

// --- errors ----------------------------------------------------------------------------

struct ExceptionTypes {
  PyObject* base = nullptr;
  PyObject* not_found = nullptr;
  PyObject* corruption = nullptr;
  PyObject* not_supported = nullptr;
  PyObject* invalid_argument = nullptr;
  PyObject* compile = nullptr;
  PyObject* io = nullptr;
  PyObject* lock_timeout = nullptr;
  PyObject* permission = nullptr;
};

ExceptionTypes& exception_types() {
  static ExceptionTypes types;  // the references are kept for the process
  return types;
}

PyObject* exception_for(Status::Code code) {
  const ExceptionTypes& t = exception_types();
  switch (code) {
    case Status::Code::kNotFound:
      return t.not_found;
    case Status::Code::kCorruption:
      return t.corruption;
    case Status::Code::kNotSupported:
      return t.not_supported;
    case Status::Code::kInvalidArgument:
      return t.invalid_argument;
    case Status::Code::kIOError:
      return t.io;
    case Status::Code::kLockTimeout:
      return t.lock_timeout;
    case Status::Code::kPermissionDenied:
      return t.permission;
    case Status::Code::kOk:
      break;
  }
  return t.base;
}

// Raises `status` as a Python exception (of `type`, or the one for its code).
[[noreturn]] void raise(const Status& status, PyObject* type = nullptr) {
  const std::string message = status.message().empty() ? status.to_string() : status.message();
  PyErr_SetString(type ? type : exception_for(status.code()), message.c_str());
  throw py::error_already_set();
}

void check(const Status& status) {
  if (!status.ok()) raise(status);
}

void define_exceptions(py::module_& m) {
  auto make = [&m](const char* name, std::initializer_list<PyObject*> bases, const char* doc) {
    py::tuple base_tuple(bases.size());
    size_t i = 0;
    for (PyObject* base : bases) base_tuple[i++] = py::reinterpret_borrow<py::object>(base);
    const std::string qualified = std::string("rtcache.") + name;
    PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base_tuple.ptr(), nullptr);
    if (type == nullptr) throw py::error_already_set();
    m.add_object(name, py::handle(type));  // the module takes its own reference
    return type;
  };
  ExceptionTypes& t = exception_types();
  t.base = make("RuntimeCacheError", {PyExc_RuntimeError},
                "Base class of the errors rtcache raises; the message names the file and the "
                "reason.");
  t.not_found =
      make("NotFoundError", {t.base, PyExc_LookupError}, "A file that is required does not exist.");
  t.corruption = make("CorruptionError", {t.base, PyExc_ValueError},
                      "A damaged or foreign cache file, or bad serialized bytes.");
  t.not_supported = make("NotSupportedError", {t.base, PyExc_NotImplementedError},
                         "A newer format version, or no compiler where one is needed.");
  t.invalid_argument = make("InvalidArgumentError", {t.base, PyExc_ValueError},
                            "A bad argument (also: runtime_cache() given no engine).");
  t.compile = make("CompileError", {t.invalid_argument},
                   "NVRTC rejected the source; the message carries its log.");
  t.io = make("CacheIOError", {t.base, PyExc_OSError},
              "The operating system refused (no space, I/O error, access denied, ...).");
  t.lock_timeout = make("LockTimeoutError", {t.base, PyExc_TimeoutError},
                        "Another process held the cache lock past the lock timeout.");
  t.permission = make("CachePermissionError", {t.base, PyExc_PermissionError},
                      "The file is not trusted (owner, mode) or not writable.");
}

// --- logging -----------------------------------------------------------------------------

struct PythonLog {
  std::atomic<bool> attached{false};
  std::atomic<int> in_flight{0};  // sink calls between their start and their end
  PyObject* log = nullptr;        // logging.getLogger("rtcache").log
  LogSink previous;               // the sink before ours (empty: rtcache's stderr sink)
};

PythonLog& python_log() {
  static PythonLog* state = new PythonLog();  // never destroyed: used at exit
  return *state;
}

int python_level(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 10;
    case LogLevel::kInfo:
      return 20;
    case LogLevel::kWarning:
      return 30;
    case LogLevel::kError:
      return 40;
    case LogLevel::kOff:
      break;
  }
  return 50;
}

void python_sink(LogLevel level, std::string_view message) {
  PythonLog& p = python_log();
  p.in_flight.fetch_add(1);
  // Checked after announcing this call: detach_log_sink() clears `attached`
  // and then waits for in_flight to drain, so once it returns no call can
  // reach Python.
  if (p.attached.load() && python_running()) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *error_type, *error_value, *error_traceback;  // an error being handled, if any
    PyErr_Fetch(&error_type, &error_value, &error_traceback);
    PyObject* text = PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()),
                                          "backslashreplace");
    PyObject* result =
        text ? PyObject_CallFunction(p.log, "iO", python_level(level), text) : nullptr;
    if (result == nullptr) PyErr_WriteUnraisable(p.log);  // a broken logging handler
    Py_XDECREF(result);
    Py_XDECREF(text);
    PyErr_Restore(error_type, error_value, error_traceback);
    PyGILState_Release(gil);
  } else {
    stderr_log_sink(level, message);
  }
  p.in_flight.fetch_sub(1);
}

void attach_log_sink() {
  PythonLog& p = python_log();
  if (p.attached.load()) return;
  py::object log = py::module_::import("logging").attr("getLogger")("rtcache").attr("log");
  p.log = log.release().ptr();
  p.attached.store(true);
  p.previous = set_log_sink(python_sink);
  // Calls in flight on other threads at a fork do not exist in the child.
  pthread_atfork(nullptr, nullptr, [] { python_log().in_flight.store(0); });
}

// Registered with atexit, which runs before the interpreter is finalized.
void detach_log_sink() {
  PythonLog& p = python_log();
  if (!p.attached.exchange(false)) return;
  set_log_sink(std::move(p.previous));  // for whatever runs from now on, exit included
  if (p.in_flight.load() != 0) {
    // Rare (a message being logged on another thread right now), and short:
    // such a call needs the GIL to finish.
    py::gil_scoped_release release;
    while (p.in_flight.load() != 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  Py_CLEAR(p.log);
}

// --- options -----------------------------------------------------------------------------

std::chrono::milliseconds to_millis(Seconds s, const char* name) {
  if (!(s.value >= 0))
    throw py::value_error(std::string(name) + " must be a non-negative duration");
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(s.value));
}

struct OptionArgs {
  std::string path;
  bool autosave_on_del = false;
  Seconds lock_timeout{10.0};
  Compression compression = Compression::kZstd;
  int compression_level = 1;
  bool sync = true;
  uint32_t file_mode = 0600;
  uint32_t dir_mode = 0700;
  double compaction_dead_ratio = 0.5;
  uint64_t compaction_min_dead_bytes = 4u << 20;
  Seconds last_use_resolution{600.0};
  uint64_t max_value_bytes = 1ull << 30;
  uint64_t max_bytes = 0;
  Seconds checkpoint_interval{0.0};
  bool trust_others = false;

  Options to_options() const {
    Options o;
    o.path = path;
    o.autosave_on_del = autosave_on_del;
    o.lock_timeout = to_millis(lock_timeout, "lock_timeout");
    o.compression = compression;
    o.compression_level = compression_level;
    o.sync = sync;
    o.file_mode = file_mode;
    o.dir_mode = dir_mode;
    o.compaction_dead_ratio = compaction_dead_ratio;
    o.compaction_min_dead_bytes = compaction_min_dead_bytes;
    o.last_use_resolution = std::chrono::duration_cast<std::chrono::seconds>(
        to_millis(last_use_resolution, "last_use_resolution"));
    o.max_value_bytes = max_value_bytes;
    o.max_bytes = max_bytes;
    o.checkpoint_interval = to_millis(checkpoint_interval, "checkpoint_interval");
    o.trust_others = trust_others;
    return o;
  }
};

// The options a handle was made with, except path and autosave (own properties).
py::dict options_dict(const Options& o) {
  py::dict d;
  d["lock_timeout"] = std::chrono::duration<double>(o.lock_timeout).count();
  d["compression"] = o.compression;
  d["compression_level"] = o.compression_level;
  d["sync"] = o.sync;
  d["file_mode"] = o.file_mode;
  d["dir_mode"] = o.dir_mode;
  d["compaction_dead_ratio"] = o.compaction_dead_ratio;
  d["compaction_min_dead_bytes"] = o.compaction_min_dead_bytes;
  d["last_use_resolution"] = std::chrono::duration<double>(o.last_use_resolution).count();
  d["max_value_bytes"] = o.max_value_bytes;
  d["max_bytes"] = o.max_bytes;
  d["checkpoint_interval"] = std::chrono::duration<double>(o.checkpoint_interval).count();
  d["trust_others"] = o.trust_others;
  return d;
}

PyCache make_cache(const OptionArgs& args) {
  return RuntimeCache::create(args.to_options());
}

// --- RuntimeCache helpers --------------------------------------------------------------

std::string type_name(py::handle obj) {
  return py::str(py::type::handle_of(obj).attr("__name__"));
}

py::bytes to_bytes(const Bytes& b) {
  return py::bytes(b.data(), b.size());
}

// A copy of a bytes-like object's contents (BufferError if not contiguous).
std::string copy_buffer(const py::handle& data) {
  Py_buffer view;
  if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
  std::string bytes(static_cast<const char*>(view.buf), static_cast<size_t>(view.len));
  PyBuffer_Release(&view);
  return bytes;
}

// A path as Python sees it (file-system encoding, undecodable bytes escaped).
py::object path_object(const std::string& path) {
  return py::cast(FsPath{path});
}

// Keys are str (stored as UTF-8) or bytes; reported as str when they decode.
py::object key_object(const std::string& key) {
  PyObject* text = PyUnicode_DecodeUTF8(key.data(), static_cast<Py_ssize_t>(key.size()), "strict");
  if (text != nullptr) return py::reinterpret_steal<py::object>(text);
  PyErr_Clear();
  return py::bytes(key);
}

std::string cache_repr(RuntimeCache& self) {
  return "RuntimeCache(path=" + std::string(py::repr(path_object(self.path()))) +
         ", autosave_on_del=" + (self.autosave_on_del() ? "True" : "False") +
         ", entries=" + std::to_string(self.size()) + ")";
}

size_t load_from_stream(RuntimeCache& self, const py::object& stream) {
  if (!py::hasattr(stream, "read")) {
    throw py::type_error("load_from_stream: expected a binary file-like object with read(), not " +
                         type_name(stream));
  }
  py::object data = stream.attr("read")();
  if (data.is_none()) return 0;  // a non-blocking stream with nothing to read
  if (!PyObject_CheckBuffer(data.ptr())) {
    throw py::type_error("load_from_stream: read() returned " + type_name(data) +
                         ", not bytes; open the stream in binary mode");
  }
  const std::string bytes = copy_buffer(data);
  check(released([&] { return self.deserialize(bytes); }));
  return bytes.size();
}

// Writes all of `bytes` (file.write may write less, as raw files do).
void write_all(const py::object& stream, const std::string& bytes) {
  py::object write = stream.attr("write");
  py::bytes data(bytes);
  py::object result = write(data);
  size_t done = py::isinstance<py::int_>(result) ? result.cast<size_t>() : bytes.size();
  if (done >= bytes.size()) return;
  py::memoryview view(data);
  while (done < bytes.size()) {
    result = write(
        view[py::slice(static_cast<py::ssize_t>(done), static_cast<py::ssize_t>(bytes.size()), 1)]);
    const size_t n = py::isinstance<py::int_>(result) ? result.cast<size_t>() : bytes.size() - done;
    if (n == 0) {
      PyErr_SetString(PyExc_OSError, "save_to_stream: write() wrote nothing");
      throw py::error_already_set();
    }
    done += n;
  }
}

size_t save_to_stream(RuntimeCache& self, const py::object& stream) {
  if (!py::hasattr(stream, "write")) {
    throw py::type_error("save_to_stream: expected a binary file-like object with write(), not " +
                         type_name(stream));
  }
  std::string bytes;
  check(released([&] { return self.serialize(&bytes); }));
  write_all(stream, bytes);
  return bytes.size();
}

constexpr int kPickleVersion = 1;

py::dict get_state(RuntimeCache& self) {
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
  return state;
}

PyCache set_state(const py::dict& state) {
  if (!state.contains("version") || state["version"].cast<int>() != kPickleVersion) {
    throw py::value_error("RuntimeCache: unsupported pickle state");
  }
  OptionArgs args;
  args.path = state["path"].cast<FsPath>().value;
  py::dict o = state["options"].cast<py::dict>();
  args.lock_timeout = Seconds{o["lock_timeout"].cast<double>()};
  args.compression = static_cast<Compression>(o["compression"].cast<int>());
  args.compression_level = o["compression_level"].cast<int>();
  args.sync = o["sync"].cast<bool>();
  args.file_mode = o["file_mode"].cast<uint32_t>();
  args.dir_mode = o["dir_mode"].cast<uint32_t>();
  args.compaction_dead_ratio = o["compaction_dead_ratio"].cast<double>();
  args.compaction_min_dead_bytes = o["compaction_min_dead_bytes"].cast<uint64_t>();
  args.last_use_resolution = Seconds{o["last_use_resolution"].cast<double>()};
  args.max_value_bytes = o["max_value_bytes"].cast<uint64_t>();
  // Pickles from before these options existed restore with the defaults.
  if (o.contains("max_bytes")) args.max_bytes = o["max_bytes"].cast<uint64_t>();
  if (o.contains("checkpoint_interval")) {
    args.checkpoint_interval = Seconds{o["checkpoint_interval"].cast<double>()};
  }
  if (o.contains("trust_others")) args.trust_others = o["trust_others"].cast<bool>();
  // Autosave is turned on only once the entries are in: a restore that fails
  // midway leaves a handle that is dropped silently and saves nothing (O14).
  std::shared_ptr<RuntimeCache> cache = RuntimeCache::create(args.to_options());
  const std::string bytes = state["entries"].cast<std::string>();
  check(released([&] { return cache->deserialize(bytes); }));
  if (state["autosave_on_del"].cast<bool>()) cache->set_autosave_on_del(true);
  return cache;
}

// --- RuntimeSettings ---------------------------------------------------------------------

std::string settings_repr(const RuntimeSettings& s) {
  if (s.is_path())
    return "RuntimeSettings.path(" + std::string(py::repr(path_object(s.cache_path()))) + ")";
  if (s.is_shared()) {
    return s.shared_cache() ? "RuntimeSettings.shared(" + cache_repr(*s.shared_cache()) + ")"
                            : "RuntimeSettings.shared(None)";
  }
  return "RuntimeSettings.none()";
}

// --- the module --------------------------------------------------------------------------

const char* const kModuleDoc = R"doc(
The compiled core of the rtcache package; import `rtcache`, not this module.
)doc";

const char* const kRuntimeCacheDoc = R"doc(
A handle on one persistent kernel cache (rtcache::RuntimeCache).

RuntimeCache(path="", autosave_on_del=False, *, lock_timeout=10.0, ...) makes a
handle and does no I/O: call load() to read the file. path "" keeps the cache in
memory only. Handles compare by identity, never by path: two handles on one path
are two caches, and each merges into the file when it saves.

With autosave_on_del the handle is saved exactly once, by whichever comes first:
its destruction, or rtcache's exit hook for handles still alive when the process
exits normally. Errors on those paths are logged (logger "rtcache"), never raised.

Options (keyword-only; see include/rtcache/options.h): lock_timeout (seconds or
timedelta), compression (Compression.ZSTD or NONE), compression_level, sync,
file_mode, dir_mode, compaction_dead_ratio, compaction_min_dead_bytes,
last_use_resolution (seconds or timedelta), max_value_bytes, max_bytes (a size
budget: least recently used entries are evicted at save; 0 = RTCACHE_MAX_SIZE or
none), checkpoint_interval (seconds or timedelta; periodic background saves; 0 =
off), trust_others (accept files owned by others or writable by group/others).

pickle and copy.deepcopy give a new handle with the same path, options,
autosave flag and entries, and its own exit registration.
)doc";

void define_module(py::module_& m) {
  m.doc() = kModuleDoc;
  m.attr("__version__") = RTCACHE_VERSION;
  define_exceptions(m);

  py::enum_<Compression>(m, "Compression", "How values are stored in the cache file.")
      .value("NONE", Compression::kNone)
      .value("ZSTD", Compression::kZstd);

  py::enum_<LogLevel>(m, "LogLevel", "Threshold below which rtcache drops log messages.")
      .value("DEBUG", LogLevel::kDebug)
      .value("INFO", LogLevel::kInfo)
      .value("WARNING", LogLevel::kWarning)
      .value("ERROR", LogLevel::kError)
      .value("OFF", LogLevel::kOff);

  m.def("set_log_level", &set_log_level, py::arg("level"),
        "Drops rtcache messages below `level` before they reach logging (default: "
        "$RTCACHE_LOG, else WARNING).");
  m.def("log_level", &log_level, "The current rtcache log threshold.");
  m.def(
      "default_cache_path", [] { return FsPath{released([] { return default_cache_path(); })}; },
      "The default cache file ($RTCACHE_DIR/kernels.rtc, else the XDG cache directory), or '' "
      "when no location is writable.");
  m.def("exit_registry_size", &exit_registry_size,
        "Number of live handles registered with the exit hook in this process.");
  m.def(
      "save_on_signals",
      [](const std::vector<int>& signals, Seconds deadline) {
        std::chrono::milliseconds ms = to_millis(deadline, "deadline");
        Status s = Status::OK();
        for (int signo : signals) {
          s = save_on_signals({signo}, ms);
          if (!s.ok()) break;
        }
        check(s);
      },
      py::arg("signals") = std::vector<int>{SIGTERM, SIGINT}, py::arg("deadline") = Seconds{5.0},
      "Opt-in: on the first of these signals, save every live autosaving handle (waiting at "
      "most `deadline` seconds) on a dedicated thread, then restore the signal's previous "
      "handler and raise it again, so the process ends (or not) as it would have.");

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
      .def("__repr__", [](const CacheStats& s) {
        return "CacheStats(entries=" + std::to_string(s.entries) +
               ", hits=" + std::to_string(s.hits) + ", misses=" + std::to_string(s.misses) +
               ", puts=" + std::to_string(s.puts) + ", saves=" + std::to_string(s.saves) +
               ", save_failures=" + std::to_string(s.save_failures) + ")";
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
        return "EntryInfo(key=" + std::string(py::repr(key_object(e.key))) +
               ", value_size=" + std::to_string(e.value_size) +
               ", metadata=" + std::string(py::repr(py::str(e.metadata))) + ")";
      });

  py::class_<FileReport>(m, "FileReport", "What inspect_file() found in a cache file.")
      .def_readonly("format_version", &FileReport::format_version)
      .def_readonly("entries", &FileReport::entries)
      .def_readonly("live_bytes", &FileReport::live_bytes)
      .def_readonly("dead_bytes", &FileReport::dead_bytes)
      .def_readonly("file_bytes", &FileReport::file_bytes)
      .def_readonly("value_bytes", &FileReport::value_bytes)
      .def_readonly("oldest_created_ns", &FileReport::oldest_created_ns)
      .def_readonly("newest_created_ns", &FileReport::newest_created_ns)
      .def_readonly("last_compaction_ns", &FileReport::last_compaction_ns)
      .def_readonly("saves", &FileReport::saves)
      .def("__repr__", [](const FileReport& r) {
        return "FileReport(entries=" + std::to_string(r.entries) +
               ", file_bytes=" + std::to_string(r.file_bytes) +
               ", saves=" + std::to_string(r.saves) + ")";
      });
  m.def(
      "inspect_file",
      [](const FsPath& path) {
        FileReport report;
        check(released([&] { return inspect_file(path.value, &report); }));
        return report;
      },
      py::arg("path"), "Reads a cache file's index and record headers (takes no lock).");

  // --- RuntimeCache ---
  py::class_<RuntimeCache, PyCache> cache(m, "RuntimeCache", kRuntimeCacheDoc);
  cache
      .def(py::init([](const FsPath& path, bool autosave_on_del, Seconds lock_timeout,
                       Compression compression, int compression_level, bool sync,
                       uint32_t file_mode, uint32_t dir_mode, double compaction_dead_ratio,
                       uint64_t compaction_min_dead_bytes, Seconds last_use_resolution,
                       uint64_t max_value_bytes, uint64_t max_bytes, Seconds checkpoint_interval,
                       bool trust_others) {
             return make_cache({path.value, autosave_on_del, lock_timeout, compression,
                                compression_level, sync, file_mode, dir_mode, compaction_dead_ratio,
                                compaction_min_dead_bytes, last_use_resolution, max_value_bytes,
                                max_bytes, checkpoint_interval, trust_others});
           }),
           py::arg("path") = FsPath{}, py::arg("autosave_on_del") = false, py::kw_only(),
           py::arg("lock_timeout") = Seconds{10.0}, py::arg("compression") = Compression::kZstd,
           py::arg("compression_level") = 1, py::arg("sync") = true, py::arg("file_mode") = 0600u,
           py::arg("dir_mode") = 0700u, py::arg("compaction_dead_ratio") = 0.5,
           py::arg("compaction_min_dead_bytes") = uint64_t{4u << 20},
           py::arg("last_use_resolution") = Seconds{600.0},
           py::arg("max_value_bytes") = uint64_t{1ull << 30}, py::arg("max_bytes") = uint64_t{0},
           py::arg("checkpoint_interval") = Seconds{0.0}, py::arg("trust_others") = false)
      .def_property_readonly(
          "path", [](const RuntimeCache& self) { return FsPath{self.path()}; },
          "The cache file ('' for an in-memory cache).")
      .def_property(
          "autosave_on_del", &RuntimeCache::autosave_on_del,
          [](RuntimeCache& self, bool on) { self.set_autosave_on_del(on); },
          "Save on destruction or at exit. Turning it on registers the handle with the exit "
          "hook; off unregisters it.")
      .def_property_readonly("exit_token", &RuntimeCache::exit_token,
                             "This handle's exit-hook registration (0 when not registered).")
      .def_property_readonly(
          "options", [](const RuntimeCache& self) { return options_dict(self.options()); },
          "The options the handle was made with, as a dict.")
      .def_property_readonly("stats", &RuntimeCache::stats, "A CacheStats snapshot.")
      .def(
          "get",
          [](RuntimeCache& self, std::string_view key, py::object default_value) -> py::object {
            Bytes value;
            Status s = released([&] { return self.get(key, &value); });
            if (s.ok()) return to_bytes(value);
            // A damaged entry is dropped and logged by rtcache: a miss here.
            if (s.is_not_found() || s.is_corruption()) return default_value;
            raise(s);
          },
          py::arg("key"), py::arg("default") = py::none(),
          "The value for `key` (str or bytes) as bytes, or `default` on a miss.")
      .def(
          "put",
          [](RuntimeCache& self, std::string_view key, const py::buffer& value,
             std::string_view metadata) {
            Bytes bytes(copy_buffer(value));
            released([&] { self.put(key, std::move(bytes), metadata); });
          },
          py::arg("key"), py::arg("value"), py::arg("metadata") = "",
          "Inserts or replaces; the value (bytes-like) is kept in memory until saved.")
      .def(
          "erase",
          [](RuntimeCache& self, std::string_view key) {
            return released([&] { return self.erase(key); });
          },
          py::arg("key"), "Removes the entry (also from the file at the next save).")
      .def(
          "reset", [](RuntimeCache& self) { released([&] { self.reset(); }); },
          "Erases every entry this handle knows.")
      .def("__len__", &RuntimeCache::size)
      .def(
          "__bool__", [](const RuntimeCache&) { return true; }, "A handle is true, even empty.")
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
          "Every live entry (EntryInfo), sorted by key.")
      .def(
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
          "Merges serialize() bytes in (saved by the next save()); empty input is a no-op.")
      .def(
          "load",
          [](RuntimeCache& self, const std::optional<FsPath>& path) {
            const std::string target = path ? path->value : std::string();
            check(released([&] { return self.load(target); }));
          },
          py::arg("path") = py::none(),
          "Reads the file (this handle's path when None). No-op when there is no target or "
          "the file does not exist yet.")
      .def(
          "save",
          [](RuntimeCache& self, const std::optional<FsPath>& path) {
            const std::string target = path ? path->value : std::string();
            check(released([&] { return self.save(target); }));
          },
          py::arg("path") = py::none(),
          "Merges this handle's changes into the file (this handle's path when None) under "
          "the inter-process lock. No-op when there is no target or nothing changed.")
      .def(
          "compact", [](RuntimeCache& self) { check(released([&] { return self.compact(); })); },
          "Rewrites the file without dead bytes, under the lock.")
      .def_property_readonly("has_unsaved_changes", &RuntimeCache::has_unsaved_changes,
                             "Whether save() would write something.")
      .def("save_to_stream", &save_to_stream, py::arg("stream"),
           "Writes serialize() to a binary file-like object once; returns the byte count.")
      .def("load_from_stream", &load_from_stream, py::arg("stream"),
           "Reads a binary file-like object to its end and deserializes it; returns the byte "
           "count (0: it was empty, a no-op).")
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
          "first creation), shared by everyone who asks while it is alive.")
      .def(
          "clone", [](const RuntimeCache& self) { return PyCache(self.clone()); },
          "A new handle with the same options and entries and its own exit registration.")
      .def("__copy__", [](const RuntimeCache& self) { return PyCache(self.clone()); })
      .def(
          "__deepcopy__",
          [](const RuntimeCache& self, const py::dict&) { return PyCache(self.clone()); },
          py::arg("memo"))
      .def(py::pickle(&get_state, &set_state))
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

  // --- RuntimeSettings ---
  py::class_<RuntimeSettings, GilFreeUnique<RuntimeSettings>>(
      m, "RuntimeSettings",
      "Which cache an engine uses: none (private, in memory), a path "
      "(an engine-implicit handle, autosaved) or a shared handle.")
      .def_static("none", &RuntimeSettings::none)
      .def_static(
          "path", [](const FsPath& path) { return RuntimeSettings::path(path.value); },
          py::arg("path"))
      .def_static(
          "shared",
          [](RuntimeCache& cache) { return RuntimeSettings::shared(cache.shared_from_this()); },
          py::arg("cache"))
      .def_static(
          "from_environment",
          [] { return released([] { return RuntimeSettings::from_environment(); }); },
          "The default cache path, or none when RTCACHE_DISABLE=1.")
      .def_property_readonly("is_none", &RuntimeSettings::is_none)
      .def_property_readonly("is_path", &RuntimeSettings::is_path)
      .def_property_readonly("is_shared", &RuntimeSettings::is_shared)
      .def_property_readonly("cache_path",
                             [](const RuntimeSettings& s) -> std::optional<FsPath> {
                               if (!s.is_path()) return std::nullopt;
                               return FsPath{s.cache_path()};
                             })
      .def_property_readonly("shared_cache",
                             [](const RuntimeSettings& s) -> PyCache {
                               if (!s.is_shared()) return {};
                               return s.shared_cache();
                             })
      .def(
          "__eq__",
          [](const RuntimeSettings& a, const py::object& b) -> py::object {
            if (!py::isinstance<RuntimeSettings>(b))
              return py::reinterpret_borrow<py::object>(Py_NotImplemented);
            return py::bool_(a == b.cast<const RuntimeSettings&>());
          },
          py::is_operator())
      .def("__hash__",
           [](const RuntimeSettings& s) -> size_t {
             if (s.is_path()) return std::hash<std::string>()(s.cache_path());
             if (s.is_shared()) return std::hash<const void*>()(s.shared_cache().get());
             return 0;
           })
      .def("__repr__", &settings_repr);

  // --- the engine ---
  py::class_<EngineConfig>(m, "EngineConfig", "What an Engine compiles, and how.")
      .def(py::init([](std::string source, std::string name,
                       std::vector<std::pair<std::string, std::string>> headers,
                       std::vector<std::string> options, std::string arch,
                       std::string nvrtc_library) {
             EngineConfig c;
             c.source = std::move(source);
             c.name = std::move(name);
             c.headers = std::move(headers);
             c.options = std::move(options);
             c.arch = std::move(arch);
             c.nvrtc_library = std::move(nvrtc_library);
             return c;
           }),
           py::arg("source") = "", py::kw_only(), py::arg("name") = "module",
           py::arg("headers") = std::vector<std::pair<std::string, std::string>>{},
           py::arg("options") = std::vector<std::string>{}, py::arg("arch") = "sm_90",
           py::arg("nvrtc_library") = "")
      .def_readwrite("source", &EngineConfig::source, "CUDA C++ source.")
      .def_readwrite("name", &EngineConfig::name, "Names the module in logs and metadata.")
      .def_readwrite("headers", &EngineConfig::headers,
                     "Extra headers as a list of (name, contents); assign, do not mutate.")
      .def_readwrite("options", &EngineConfig::options,
                     "NVRTC options, e.g. ['-std=c++17']; assign, do not mutate.")
      .def_readwrite("arch", &EngineConfig::arch, "sm_XX (CUBIN) or compute_XX (PTX).")
      .def_readwrite("nvrtc_library", &EngineConfig::nvrtc_library,
                     "libnvrtc to load; '' searches RTCACHE_NVRTC, $CUDA_HOME, /usr/local/cuda.")
      .def("__repr__", [](const EngineConfig& c) {
        return "EngineConfig(name=" + std::string(py::repr(py::str(c.name))) +
               ", arch=" + std::string(py::repr(py::str(c.arch))) +
               ", options=" + std::string(py::repr(py::cast(c.options))) + ")";
      });

  py::class_<Kernel>(m, "Kernel", "A compiled kernel.")
      .def_property_readonly(
          "binary", [](const Kernel& k) { return to_bytes(k.binary); },
          "CUBIN, or NUL-terminated PTX for a compute_XX arch.")
      .def_readonly("lowered_name", &Kernel::lowered_name)
      .def_readonly("from_cache", &Kernel::from_cache)
      .def_readonly("compile_ms", &Kernel::compile_ms)
      .def_readonly("key", &Kernel::key)
      .def("__repr__", [](const Kernel& k) {
        return "Kernel(lowered_name=" + std::string(py::repr(py::str(k.lowered_name))) +
               ", from_cache=" + (k.from_cache ? "True" : "False") +
               ", size=" + std::to_string(k.binary.size()) + ")";
      });

  py::class_<EngineStats>(m, "EngineStats")
      .def_readonly("hits", &EngineStats::hits)
      .def_readonly("compiles", &EngineStats::compiles)
      .def_readonly("compile_failures", &EngineStats::compile_failures)
      .def_readonly("compile_ms", &EngineStats::compile_ms)
      .def("__repr__", [](const EngineStats& s) {
        return "EngineStats(hits=" + std::to_string(s.hits) +
               ", compiles=" + std::to_string(s.compiles) +
               ", compile_failures=" + std::to_string(s.compile_failures) + ")";
      });

  py::class_<Engine, GilFreeUnique<Engine>>(
      m, "Engine",
      "A module of CUDA C++ kernels compiled at run time with "
      "NVRTC, through a RuntimeCache.")
      .def(py::init([](EngineConfig config, std::optional<RuntimeSettings> settings) {
             return released([&] {
               return settings ? GilFreeUnique<Engine>(
                                     new Engine(std::move(config), std::move(*settings)))
                               : GilFreeUnique<Engine>(new Engine(std::move(config)));
             });
           }),
           py::arg("config"), py::arg("runtime_settings") = py::none(),
           "runtime_settings None means RuntimeSettings.from_environment().")
      .def(
          "kernel",
          [](Engine& self, std::string_view name_expression) {
            Kernel kernel;
            Status s = released([&] { return self.kernel(name_expression, &kernel); });
            if (s.code() == Status::Code::kInvalidArgument) raise(s, exception_types().compile);
            check(s);
            return kernel;
          },
          py::arg("name_expression"),
          "The kernel for an NVRTC name expression ('scale<float>'): from the cache, else "
          "compiled and cached. Raises CompileError with NVRTC's log.")
      .def("key_for", &Engine::key_for, py::arg("name_expression"),
           "The cache key kernel() uses (computed without compiling).")
      .def_property(
          "runtime_settings", &Engine::runtime_settings,
          [](Engine& self, RuntimeSettings settings) {
            released([&] { self.set_runtime_settings(std::move(settings)); });
          },
          "Which cache the engine uses. Setting a path loads it; swapping away from an "
          "implicit handle saves it now; the same path or handle again is a no-op.")
      .def_property_readonly(
          "runtime_cache", [](const Engine& self) { return PyCache(self.runtime_cache()); },
          "The handle in use (a private in-memory one when the settings are none).")
      .def_property_readonly(
          "config", [](const Engine& self) { return self.config(); }, "A copy of the config.")
      .def_property_readonly("stats", &Engine::stats)
      .def("__repr__", [](const Engine& self) {
        return "Engine(name=" + std::string(py::repr(py::str(self.config().name))) +
               ", arch=" + std::string(py::repr(py::str(self.config().arch))) +
               ", runtime_settings=" + settings_repr(self.runtime_settings()) + ")";
      });

  attach_log_sink();
  py::module_::import("atexit").attr("register")(py::cpp_function(&detach_log_sink));
}

}  // namespace
}  // namespace rtcache::python

PYBIND11_MODULE(_rtcache, m) {
  rtcache::python::define_module(m);
}

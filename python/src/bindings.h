// Internal to rtcache._rtcache: what the binding files (one per public header
// they bind) share. Not installed; nothing here is part of the Python API.
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
//   Errors. A non-OK Status raises the exception class its code maps to in the
//   one table in status.cc; the message is Status::message(), naming the file
//   and the reason. Nothing decides anything from a message's text.
//
//   Arguments. Paths are str, bytes or os.PathLike (FsPath); byte sizes are
//   an int or a string in rtcache's size grammar (ByteSize: "64K", "512MiB");
//   durations are seconds, a timedelta or a string in its duration grammar
//   (Duration: "1500ms", "10s", "2h"). The grammar is rtcache::parse_byte_size
//   and parse_duration (include/rtcache/options.h), as for the CLI and the
//   environment.
#pragma once

// clang-format off
#include <pybind11/pybind11.h>  // first: Python.h must precede the system headers
#include <pybind11/stl.h>
// clang-format on

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "rtcache/rtcache.h"

namespace py = pybind11;

namespace rtcache::python {

// A file-system path argument: str, bytes or os.PathLike (None is not one).
struct FsPath {
  std::string value;
};

// A byte-size argument: a non-negative int, or a string such as "64K".
struct ByteSize {
  uint64_t value = 0;
};

// A duration argument: seconds (int or float), a datetime.timedelta, or a
// string such as "1500ms" or "2h". Never negative.
struct Duration {
  std::chrono::milliseconds value{0};
};

// The casters' conversions (options.cc). False: not that kind of object (the
// next overload is tried; TypeError in the end). The right kind with a bad
// value ("12Q", -1) raises InvalidArgumentError naming it.
bool load_fs_path(py::handle src, std::string* out);
bool load_byte_size(py::handle src, uint64_t* out);
bool load_duration(py::handle src, std::chrono::milliseconds* out);

}  // namespace rtcache::python

namespace pybind11::detail {

template <>
struct type_caster<rtcache::python::FsPath> {
  PYBIND11_TYPE_CASTER(rtcache::python::FsPath, const_name("str | os.PathLike"));
  bool load(handle src, bool) { return rtcache::python::load_fs_path(src, &value.value); }
  static handle cast(const rtcache::python::FsPath& path, return_value_policy, handle) {
    return PyUnicode_DecodeFSDefaultAndSize(path.value.data(),
                                            static_cast<Py_ssize_t>(path.value.size()));
  }
};

template <>
struct type_caster<rtcache::python::ByteSize> {
  PYBIND11_TYPE_CASTER(rtcache::python::ByteSize, const_name("int | str"));
  bool load(handle src, bool) { return rtcache::python::load_byte_size(src, &value.value); }
  static handle cast(const rtcache::python::ByteSize& size, return_value_policy, handle) {
    return PyLong_FromUnsignedLongLong(size.value);
  }
};

template <>
struct type_caster<rtcache::python::Duration> {
  PYBIND11_TYPE_CASTER(rtcache::python::Duration, const_name("float | datetime.timedelta | str"));
  bool load(handle src, bool) { return rtcache::python::load_duration(src, &value.value); }
  static handle cast(const rtcache::python::Duration& d, return_value_policy, handle) {
    return PyFloat_FromDouble(std::chrono::duration<double>(d.value).count());
  }
};

}  // namespace pybind11::detail

namespace rtcache::python {

// --- the interpreter and the GIL ----------------------------------------------------------

// Whether calling into Python is allowed at all: not before initialization and
// not once finalization has begun.
inline bool python_running() {
  if (!Py_IsInitialized()) return false;
#if PY_VERSION_HEX >= 0x030D0000
  return !Py_IsFinalizing();
#else
  return !_Py_IsFinalizing();
#endif
}

inline bool this_thread_holds_gil() {
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

}  // namespace rtcache::python

PYBIND11_DECLARE_HOLDER_TYPE(T, rtcache::python::PyHandle<T>)

namespace rtcache::python {

using PyCache = PyHandle<RuntimeCache>;

// --- errors (status.cc) ---------------------------------------------------------------------

// Raises `status` (not OK) as the exception class its code maps to.
[[noreturn]] void raise(const Status& status);
inline void check(const Status& status) {
  if (!status.ok()) raise(status);
}
// Raises a built-in exception (TypeError, OSError, ...) with `message`.
[[noreturn]] void raise_builtin(PyObject* type, const std::string& message);

// --- shared helpers (cache.cc) ----------------------------------------------------------------

std::string type_name(py::handle obj);
py::bytes to_bytes(const Bytes& b);
// A copy of a bytes-like object's contents (BufferError if not contiguous).
std::string copy_buffer(const py::handle& data);
// A path as Python sees it (file-system encoding, undecodable bytes escaped).
py::object path_object(const std::string& path);
std::string cache_repr(RuntimeCache& self);
// "Type(name=repr(value), ...)", for __repr__.
std::string repr_of(const char* type,
                    std::initializer_list<std::pair<const char*, py::object>> fields);
// stream.read() to its end, as bytes ("" when it returns None); TypeError when
// `stream` has no read() or read() does not return bytes. `who` names the caller.
std::string read_stream(const py::object& stream, const char* who);
// Writes all of `bytes` (write() may write less, as raw files do).
void write_all(const py::object& stream, std::string_view bytes, const char* who);

// --- options (options.cc) ---------------------------------------------------------------------

// The options a handle was made with, except path and autosave (own properties).
py::dict options_dict(const Options& o);
// Options from a dict made by options_dict (a pickle's state); keys missing
// in older pickles keep their defaults.
Options options_from_dict(const py::dict& d);

// --- the parts of the module, one per public header they bind -------------------------------

void define_status(py::module_& m);       // status.cc: the exception classes, StatusCode
void define_log(py::module_& m);          // log.cc: LogLevel, the `rtcache` logger
void define_options(py::module_& m);      // options.cc: Compression, the parsers
void define_cache(py::module_& m);        // cache.cc: RuntimeCache, CacheStats, EntryInfo
void define_maintenance(py::module_& m);  // maintenance.cc: inspect_file, FileReport
void define_signals(py::module_& m);      // signals.cc: save_on_signals
void define_engine(py::module_& m);       // engine.cc: Engine, RuntimeSettings, EngineConfig
void define_scope(py::module_& m);        // scope.cc: ScopedRuntimeCache

// Attached at import; detached by an atexit callback, before finalization.
void attach_log_sink();
void detach_log_sink();

}  // namespace rtcache::python

// Binds include/rtcache/status.h: every Status code maps to one Python
// exception class, in one table. Nothing else decides which class to raise.
#include <array>
#include <iterator>

#include "bindings.h"

namespace rtcache::python {
namespace {

using Code = Status::Code;

// One row of the table: a Status code, the class it raises, and that class's
// bases: the row's parent (another code's class, or RuntimeCacheError) and
// the built-in exception it also is (none where the parent already is one).
struct ExceptionRow {
  Code code;
  const char* name;             // rtcache.<name>
  const char* enum_name;        // rtcache.StatusCode.<enum_name>
  Code parent;                  // kOk: RuntimeCacheError itself
  PyObject* const* builtin;     // e.g. &PyExc_OSError; nullptr: none
  Status (*make)(std::string);  // the Status factory for the code (for tests)
  const char* doc;
};

// THE table. A parent's row comes before its children's.
constexpr ExceptionRow kTable[] = {
    {Code::kNotFound, "NotFoundError", "NOT_FOUND", Code::kOk, &PyExc_LookupError,
     &Status::NotFound,
     "A file that is required does not exist (a missing key is get() returning its default)."},
    {Code::kCorruption, "CorruptionError", "CORRUPTION", Code::kOk, &PyExc_ValueError,
     &Status::Corruption,
     "A damaged cache file or record, or bad serialized bytes; the message names the file "
     "(and, for a damaged record, its offset)."},
    {Code::kNotACacheFile, "NotACacheFileError", "NOT_A_CACHE_FILE", Code::kCorruption, nullptr,
     &Status::NotACacheFile,
     "Not an rtcache file at all: an empty file, another format (a foreign magic), or not a "
     "regular file (a directory, a device)."},
    {Code::kNotSupported, "NotSupportedError", "NOT_SUPPORTED", Code::kOk,
     &PyExc_NotImplementedError, &Status::NotSupported,
     "A newer format version, or no compiler where one is needed."},
    {Code::kInvalidArgument, "InvalidArgumentError", "INVALID_ARGUMENT", Code::kOk,
     &PyExc_ValueError, &Status::InvalidArgument,
     "A bad argument: a malformed size or duration, runtime_cache() given no engine, ..."},
    {Code::kCompileError, "CompileError", "COMPILE_ERROR", Code::kInvalidArgument, nullptr,
     &Status::CompileError, "NVRTC rejected the source; the message carries its log."},
    {Code::kIOError, "CacheIOError", "IO_ERROR", Code::kOk, &PyExc_OSError, &Status::IOError,
     "The operating system refused (no space, I/O error, access denied, ...)."},
    {Code::kLockTimeout, "LockTimeoutError", "LOCK_TIMEOUT", Code::kOk, &PyExc_TimeoutError,
     &Status::LockTimeout, "Another process held the cache lock past the lock timeout."},
    {Code::kPermissionDenied, "CachePermissionError", "PERMISSION_DENIED", Code::kOk,
     &PyExc_PermissionError, &Status::PermissionDenied,
     "The file is not trusted (owner, mode) or not writable."},
};

// Status::Code's last enumerator. The switch does not compile (-Wswitch is an
// error in this build) once a code is added to status.h: add its row above
// and name it here; the static_assert then checks that every code has a row.
constexpr Code last_code() {
  constexpr Code last = Code::kCompileError;
  switch (last) {
    case Code::kOk:
    case Code::kNotFound:
    case Code::kCorruption:
    case Code::kNotSupported:
    case Code::kInvalidArgument:
    case Code::kIOError:
    case Code::kLockTimeout:
    case Code::kPermissionDenied:
    case Code::kNotACacheFile:
    case Code::kCompileError:
      break;
  }
  return last;
}

constexpr int kCodes = static_cast<int>(last_code()) + 1;

constexpr int row_of(Code code) {
  for (int i = 0; i < static_cast<int>(std::size(kTable)); ++i) {
    if (kTable[i].code == code) return i;
  }
  return -1;
}

constexpr bool table_is_complete() {
  if (static_cast<int>(std::size(kTable)) != kCodes - 1) return false;  // one row a code but OK
  for (int c = 1; c < kCodes; ++c) {
    const int row = row_of(static_cast<Code>(c));
    if (row < 0) return false;
    const Code parent = kTable[row].parent;
    if (parent != Code::kOk && !(row_of(parent) >= 0 && row_of(parent) < row)) return false;
  }
  return true;
}
static_assert(table_is_complete(), "every Status code needs exactly one row, parents first");

// The classes made from the table: index 0 is RuntimeCacheError, then one per
// code. The references are kept for the process.
std::array<PyObject*, kCodes>& classes() {
  static std::array<PyObject*, kCodes> types{};
  return types;
}

PyObject* make_class(py::module_& m, const char* name, std::initializer_list<PyObject*> bases,
                     const char* doc) {
  py::tuple base_tuple(bases.size());
  size_t i = 0;
  for (PyObject* base : bases) base_tuple[i++] = py::reinterpret_borrow<py::object>(base);
  const std::string qualified = std::string("rtcache.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base_tuple.ptr(), nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // the module takes its own reference
  return type;
}

}  // namespace

void raise(const Status& status) {
  const int c = static_cast<int>(status.code());
  PyObject* type = c > 0 && c < kCodes ? classes()[c] : classes()[0];
  const std::string message = status.message().empty() ? status.to_string() : status.message();
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

void raise_builtin(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

void define_status(py::module_& m) {
  py::enum_<Code> codes(
      m, "StatusCode", "The C++ Status codes; each error class's `code` says which it raises for.");
  codes.value("OK", Code::kOk);
  for (const ExceptionRow& row : kTable) codes.value(row.enum_name, row.code);

  auto& types = classes();
  types[0] = make_class(m, "RuntimeCacheError", {PyExc_RuntimeError},
                        "Base class of the errors rtcache raises; the message names the file and "
                        "the reason.");
  py::setattr(types[0], "code", py::none());
  for (const ExceptionRow& row : kTable) {
    PyObject* parent = types[static_cast<int>(row.parent)];
    PyObject* type = row.builtin ? make_class(m, row.name, {parent, *row.builtin}, row.doc)
                                 : make_class(m, row.name, {parent}, row.doc);
    py::setattr(type, "code", py::cast(row.code));
    types[static_cast<int>(row.code)] = type;
  }

  m.def(
      "exception_for",
      [](Code code) {
        const int c = static_cast<int>(code);
        return py::reinterpret_borrow<py::object>(c > 0 && c < kCodes ? classes()[c]
                                                                      : classes()[0]);
      },
      py::arg("code"), "The exception class a Status code raises (the one table, in C++).");
  m.def(
      "_raise_status",
      [](Code code, std::string message) {
        const int row = row_of(code);
        if (row < 0) raise_builtin(PyExc_ValueError, "_raise_status: not an error code");
        raise(kTable[row].make(std::move(message)));
      },
      py::arg("code"), py::arg("message"), "For tests: raises what a C++ Status would.");
}

}  // namespace rtcache::python

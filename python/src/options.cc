// Binds include/rtcache/options.h: Compression, the size and duration grammar
// (every byte-size and duration argument of the module goes through it, as
// the CLI's and the environment's do), the options dict of a handle and the
// default cache path.
#include <cmath>

#include "bindings.h"

namespace rtcache::python {
namespace {

const char* const kSizeGrammar =
    "a count of bytes, optionally with a unit K, M, G or T (powers of 1024, optionally followed "
    "by B or iB): 4096, \"64K\", \"512MiB\", \"1T\"";
const char* const kDurationGrammar =
    "seconds (int or float), a datetime.timedelta, or a count with a unit ms, s, m, h or d (no "
    "unit: seconds): \"1500ms\", \"10s\", \"2h\", \"30d\"";

uint64_t byte_size_from_text(const std::string& text) {
  uint64_t bytes = 0;
  if (!parse_byte_size(text, &bytes)) {
    raise(Status::InvalidArgument("not a byte size: " + std::string(py::repr(py::str(text))) +
                                  " (expected " + kSizeGrammar + ")"));
  }
  return bytes;
}

std::chrono::milliseconds duration_from_text(const std::string& text) {
  std::chrono::milliseconds duration{0};
  if (!parse_duration(text, &duration)) {
    raise(Status::InvalidArgument("not a duration: " + std::string(py::repr(py::str(text))) +
                                  " (expected " + kDurationGrammar + ")"));
  }
  return duration;
}

// At most what parse_duration accepts: signed 64-bit nanoseconds.
constexpr double kMaxSeconds = 9.2e9;

std::chrono::milliseconds duration_from_seconds(double seconds, py::handle src) {
  if (!(seconds >= 0) || seconds > kMaxSeconds) {
    raise(Status::InvalidArgument("not a duration: " + std::string(py::repr(src)) +
                                  " (it must be from 0 to about 292 years; expected " +
                                  kDurationGrammar + ")"));
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(seconds));
}

bool is_number(py::handle src) {
  return PyFloat_Check(src.ptr()) || (PyLong_Check(src.ptr()) && !PyBool_Check(src.ptr()));
}

}  // namespace

bool load_fs_path(py::handle src, std::string* out) {
  if (src.is_none()) return false;
  py::object fspath = py::reinterpret_steal<py::object>(PyOS_FSPath(src.ptr()));
  if (fspath && PyUnicode_Check(fspath.ptr())) {
    fspath = py::reinterpret_steal<py::object>(PyUnicode_EncodeFSDefault(fspath.ptr()));
  }
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (!fspath || PyBytes_AsStringAndSize(fspath.ptr(), &data, &size) != 0) {
    PyErr_Clear();
    return false;
  }
  out->assign(data, static_cast<size_t>(size));
  return true;
}

bool load_byte_size(py::handle src, uint64_t* out) {
  if (PyUnicode_Check(src.ptr())) {
    *out = byte_size_from_text(src.cast<std::string>());
    return true;
  }
  if (!PyLong_Check(src.ptr()) || PyBool_Check(src.ptr())) return false;
  const unsigned long long value = PyLong_AsUnsignedLongLong(src.ptr());
  if (value == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    PyErr_Clear();  // negative, or more than 64 bits
    raise(Status::InvalidArgument("not a byte size: " + std::string(py::repr(src)) +
                                  " (it must be from 0 to 2**64-1; expected " + kSizeGrammar +
                                  ")"));
  }
  *out = value;
  return true;
}

bool load_duration(py::handle src, std::chrono::milliseconds* out) {
  if (PyUnicode_Check(src.ptr())) {
    *out = duration_from_text(src.cast<std::string>());
    return true;
  }
  py::object seconds;
  if (is_number(src)) {
    seconds = py::reinterpret_borrow<py::object>(src);
  } else if (py::hasattr(src, "total_seconds")) {  // datetime.timedelta
    seconds = src.attr("total_seconds")();
  } else {
    return false;
  }
  const double value = PyFloat_AsDouble(seconds.ptr());
  if (value == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();  // an int too large for a double, or total_seconds() returned no number
    return false;
  }
  *out = duration_from_seconds(value, src);
  return true;
}

py::dict options_dict(const Options& o) {
  py::dict d;
  d["lock_timeout"] = Duration{o.lock_timeout};
  d["compression"] = o.compression;
  d["compression_level"] = o.compression_level;
  d["sync"] = o.sync;
  d["file_mode"] = o.file_mode;
  d["dir_mode"] = o.dir_mode;
  d["compaction_dead_ratio"] = o.compaction_dead_ratio;
  d["compaction_min_dead_bytes"] = o.compaction_min_dead_bytes;
  d["last_use_resolution"] = Duration{o.last_use_resolution};
  d["max_value_bytes"] = o.max_value_bytes;
  d["max_bytes"] = o.max_bytes;
  d["checkpoint_interval"] = Duration{o.checkpoint_interval};
  d["trust_others"] = o.trust_others;
  d["read_only"] = o.read_only;
  return d;
}

Options options_from_dict(const py::dict& d) {
  Options o;
  // Every key is optional: pickles from before an option existed restore
  // with its default.
  auto get = [&d](const char* name, auto* field, auto convert) {
    if (d.contains(name)) *field = convert(d[name]);
  };
  auto duration = [](py::handle v) { return v.cast<Duration>().value; };
  auto size = [](py::handle v) { return v.cast<ByteSize>().value; };
  get("lock_timeout", &o.lock_timeout, duration);
  get("compression", &o.compression,
      [](py::handle v) { return static_cast<Compression>(v.cast<int>()); });
  get("compression_level", &o.compression_level, [](py::handle v) { return v.cast<int>(); });
  get("sync", &o.sync, [](py::handle v) { return v.cast<bool>(); });
  get("file_mode", &o.file_mode, [](py::handle v) { return v.cast<uint32_t>(); });
  get("dir_mode", &o.dir_mode, [](py::handle v) { return v.cast<uint32_t>(); });
  get("compaction_dead_ratio", &o.compaction_dead_ratio,
      [](py::handle v) { return v.cast<double>(); });
  get("compaction_min_dead_bytes", &o.compaction_min_dead_bytes, size);
  get("last_use_resolution", &o.last_use_resolution,
      [&](py::handle v) { return std::chrono::duration_cast<std::chrono::seconds>(duration(v)); });
  get("max_value_bytes", &o.max_value_bytes, size);
  get("max_bytes", &o.max_bytes, size);
  get("checkpoint_interval", &o.checkpoint_interval, duration);
  get("trust_others", &o.trust_others, [](py::handle v) { return v.cast<bool>(); });
  get("read_only", &o.read_only, [](py::handle v) { return v.cast<bool>(); });
  return o;
}

void define_options(py::module_& m) {
  py::enum_<Compression>(m, "Compression", "How values are stored in the cache file.")
      .value("NONE", Compression::kNone)
      .value("ZSTD", Compression::kZstd);
  m.def(
      "parse_byte_size", [](const std::string& text) { return byte_size_from_text(text); },
      py::arg("text"),
      "Bytes for a size in rtcache's grammar (as for RTCACHE_MAX_SIZE and the CLI): \"4096\", "
      "\"64K\", \"512MiB\", \"1T\". Raises InvalidArgumentError (a ValueError) naming the text.");
  m.def(
      "parse_duration", [](const std::string& text) { return Duration{duration_from_text(text)}; },
      py::arg("text"),
      "Seconds (float) for a duration in rtcache's grammar (as for the CLI): \"1500ms\", \"10s\", "
      "\"30\" (seconds), \"2h\", \"30d\". Raises InvalidArgumentError (a ValueError) naming the "
      "text.");
  m.def(
      "default_cache_path", [] { return FsPath{released([] { return default_cache_path(); })}; },
      "The default cache file ($RTCACHE_DIR/kernels.rtc, else the XDG cache directory), or '' "
      "when no location is writable.");
}

}  // namespace rtcache::python

// Binds rtcache::ScopedRuntimeCache (include/rtcache/engine.h), the one
// implementation of the scoped, shared cache; rtcache/_scope.py only checks
// the arguments. A binary file-like target is a PyStreamTarget: the C++ scope
// calls it (read all, write at the start, truncate) and it calls Python,
// taking the GIL for each call.
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "bindings.h"

namespace rtcache::python {
namespace {

// A binary file-like object as a StreamTarget. read_all() remembers tell()
// when seekable() says so; write_at_start() seeks back there, writes the
// image whole and flushes; truncate() cuts the stream there when it can. A
// Python exception in one of them is kept, to be raised again by the bound
// call that was running (the scope only sees an IOError naming it).
class PyStreamTarget final : public StreamTarget {
 public:
  explicit PyStreamTarget(py::object stream) : stream_(std::move(stream)) {}  // with the GIL

  ~PyStreamTarget() override {
    if (python_running()) {
      py::gil_scoped_acquire gil;
      stream_ = py::object();
      start_ = py::object();
      error_ = py::object();
    } else {  // the interpreter is gone or going: nothing may touch it, leak
      stream_.release();
      start_.release();
      error_.release();
    }
  }

  Status read_all(std::string* bytes) override {
    return call("read", [&] {
      py::object seekable = py::getattr(stream_, "seekable", py::none());
      if (!seekable.is_none() && py::bool_(seekable())) start_ = stream_.attr("tell")();
      *bytes = read_stream(stream_, "runtime_cache");
    });
  }

  Status write_at_start(std::string_view image) override {
    return call("write", [&] {
      if (start_) stream_.attr("seek")(start_);
      write_all(stream_, image, "runtime_cache");
      if (has_method("flush")) stream_.attr("flush")();
    });
  }

  Status truncate() override {
    return call("truncate", [&] {
      if (start_ && has_method("truncate")) stream_.attr("truncate")();
    });
  }

  // Raises the Python exception the last failed call kept, if any (GIL held).
  void raise_kept_error() {
    if (!error_) return;
    py::object error = std::move(error_);
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
    throw py::error_already_set();
  }

 private:
  bool has_method(const char* name) const {
    return PyCallable_Check(py::getattr(stream_, name, py::none()).ptr()) != 0;
  }

  template <typename F>
  Status call(const char* what, F&& fn) {
    if (!python_running()) {
      return Status::IOError(std::string("stream: ") + what + ": the interpreter is shutting down");
    }
    py::gil_scoped_acquire gil;
    try {
      error_ = py::object();
      fn();
      return Status::OK();
    } catch (py::error_already_set& e) {
      error_ = e.value();
    } catch (py::builtin_exception& e) {  // a pybind11 conversion failed
      e.set_error();
      error_ = py::error_already_set().value();
    }
    return Status::IOError(std::string("stream: ") + what + ": " + type_name(error_) + ": " +
                           std::string(py::str(error_)));
  }

  py::object stream_;
  py::object start_;  // tell() at read_all(); empty when not seekable
  py::object error_;  // the exception of the last failed call
};

// The bound object: the C++ scope, the engines it points at (kept alive
// while it is open), and the stream target when there is one.
class PyScope {
 public:
  PyScope(std::unique_ptr<ScopedRuntimeCache> scope, py::object engines,
          std::shared_ptr<PyStreamTarget> stream)
      : scope_(std::move(scope)),
        cache_(scope_->cache()),
        engines_(std::move(engines)),
        stream_(std::move(stream)) {}
  ~PyScope() {
    end();
    drop(cache_);
  }

  const std::shared_ptr<RuntimeCache>& cache() const { return cache_; }

  // ScopedRuntimeCache::close(): raises what failed (the stream's own
  // exception, else the Status's class). Does nothing once ended.
  void close() {
    const Status s = released([&] {
      std::lock_guard<std::mutex> lock(mu_);  // taken without the GIL: see end()
      return scope_ ? scope_->close() : Status::OK();
    });
    if (s.ok()) return;
    if (stream_) stream_->raise_kept_error();
    raise(s);
  }

  // What destruction does: restores the engines and saves unless closed; a
  // failure is logged (logger "rtcache"), never raised.
  void end() {
    without_gil([&] {
      std::lock_guard<std::mutex> lock(mu_);
      scope_.reset();
    });
  }

 private:
  std::mutex mu_;  // serializes close() and end() from several threads
  std::unique_ptr<ScopedRuntimeCache> scope_;
  std::shared_ptr<RuntimeCache> cache_;
  py::object engines_;
  std::shared_ptr<PyStreamTarget> stream_;
};

std::vector<Engine*> engine_pointers(const py::sequence& engines) {
  std::vector<Engine*> out;
  for (py::handle engine : engines) out.push_back(engine.cast<Engine*>());
  return out;
}

// Opens a scope on a path (target is an FsPath), a handle or a stream (a
// PyStreamTarget).
template <typename Target>
std::unique_ptr<PyScope> open_scope(const py::sequence& engines, const Target& target,
                                    bool autosave, std::shared_ptr<PyStreamTarget> stream) {
  const std::vector<Engine*> pointers = engine_pointers(engines);
  std::unique_ptr<ScopedRuntimeCache> scope;
  const Status s = released([&] {
    if constexpr (std::is_same_v<Target, FsPath>) {
      return ScopedRuntimeCache::open(pointers, target.value, autosave, &scope);
    } else {
      return ScopedRuntimeCache::open(pointers, target, autosave, &scope);
    }
  });
  if (!s.ok()) {
    if (stream) stream->raise_kept_error();
    raise(s);
  }
  return std::make_unique<PyScope>(std::move(scope), py::tuple(engines), std::move(stream));
}

}  // namespace

void define_scope(py::module_& m) {
  py::class_<PyScope>(m, "ScopedRuntimeCache",
                      "rtcache::ScopedRuntimeCache; use rtcache.runtime_cache(), which checks the "
                      "arguments and makes this a context manager.")
      .def_static(
          "open",
          [](const py::sequence& engines, const FsPath& path, bool autosave) {
            return open_scope(engines, path, autosave, nullptr);
          },
          py::arg("engines"), py::arg("path"), py::arg("autosave"),
          "Loads the file ('' = memory only) into a new handle and attaches it to the engines.")
      .def_static(
          "open",
          [](const py::sequence& engines, RuntimeCache& cache, bool autosave) {
            return open_scope(engines, cache.shared_from_this(), autosave, nullptr);
          },
          py::arg("engines"), py::arg("cache"), py::arg("autosave"),
          "Attaches an existing handle to the engines as it is (not loaded); with autosave it "
          "is saved once, to its own path, when the scope ends.")
      .def_static(
          "open",
          [](const py::sequence& engines, py::object stream, bool autosave) {
            auto target = std::make_shared<PyStreamTarget>(std::move(stream));
            std::shared_ptr<StreamTarget> as_target = target;
            return open_scope(engines, as_target, autosave, std::move(target));
          },
          py::arg("engines"), py::arg("stream"), py::arg("autosave"),
          "Reads a binary file-like object from its position into a new handle and attaches it "
          "to the engines.")
      .def_property_readonly(
          "cache", [](const PyScope& self) { return PyCache(self.cache()); },
          "The shared handle (autosave off).")
      .def("close", &PyScope::close,
           "Restores the engines and saves now, raising on failure; later calls do nothing.")
      .def("end", &PyScope::end,
           "Restores the engines and saves once unless closed; a failure is logged as a "
           "warning, never raised. Later calls do nothing.");
}

}  // namespace rtcache::python

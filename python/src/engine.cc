// Binds include/rtcache/engine.h, except the scoped cache (scope.cc):
// RuntimeSettings, EngineConfig, Kernel, EngineStats and Engine.
#include <optional>
#include <utility>
#include <vector>

#include "bindings.h"

namespace rtcache::python {
namespace {

// What RuntimeSettings(runtime_cache=...) takes: None or "" (none), a path
// (str or os.PathLike), or a RuntimeCache (shared, by identity).
RuntimeSettings settings_from(const py::handle& runtime_cache) {
  if (runtime_cache.is_none()) return RuntimeSettings::none();
  if (py::isinstance<RuntimeCache>(runtime_cache)) {
    return RuntimeSettings::shared(runtime_cache.cast<RuntimeCache&>().shared_from_this());
  }
  std::string path;
  if (load_fs_path(runtime_cache, &path)) return RuntimeSettings::path(std::move(path));
  raise_builtin(PyExc_TypeError,
                "RuntimeSettings: runtime_cache must be None, a path (str or os.PathLike) or a "
                "RuntimeCache, not " +
                    type_name(runtime_cache));
}

// The one field, as Python sees it: None, the path, or the handle.
py::object runtime_cache_field(const RuntimeSettings& s) {
  if (s.is_path()) return path_object(s.cache_path());
  if (s.is_shared()) return py::cast(PyCache(s.shared_cache()));
  return py::none();
}

std::string settings_repr(const RuntimeSettings& s) {
  if (s.is_shared()) return "RuntimeSettings(runtime_cache=" + cache_repr(*s.shared_cache()) + ")";
  return "RuntimeSettings(runtime_cache=" + std::string(py::repr(runtime_cache_field(s))) + ")";
}

// merge(**overrides): a copy with the named fields replaced; TypeError names
// an unknown one (the original's frozen dataclass refuses them too).
RuntimeSettings merge_settings(const RuntimeSettings& self, const py::kwargs& overrides) {
  RuntimeSettings merged = self;
  for (const auto& [name, value] : overrides) {
    const std::string key = py::str(name);
    if (key != "runtime_cache") {
      raise_builtin(PyExc_TypeError, "RuntimeSettings.merge: unknown setting '" + key +
                                         "' (the settings are: runtime_cache)");
    }
    merged = settings_from(value);
  }
  return merged;
}

const char* const kRuntimeSettingsDoc = R"doc(
Which cache an engine uses: a frozen value.

RuntimeSettings(runtime_cache=None) takes None or "" (none: a private cache in
memory), a path (str or os.PathLike: the engine-implicit handle for that path,
autosaved) or a RuntimeCache (shared, compared by identity). Equality and hashing
are by value (paths by value, handles by identity); merge(**overrides) returns a
copy with fields replaced and raises TypeError for an unknown one; pickle keeps a
path as a path and a handle as a new, independent handle (as pickling the handle
does). The factories none(), path(), shared() and from_environment() remain.
)doc";

void define_settings(py::module_& m) {
  py::class_<RuntimeSettings, GilFreeUnique<RuntimeSettings>>(m, "RuntimeSettings",
                                                              kRuntimeSettingsDoc)
      .def(py::init([](const py::object& runtime_cache) { return settings_from(runtime_cache); }),
           py::arg("runtime_cache") = py::none())
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
      .def_property_readonly("runtime_cache", &runtime_cache_field,
                             "None, the path (str) or the shared RuntimeCache.")
      .def("merge", &merge_settings)
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
      .def("__repr__", &settings_repr)
      .def(py::pickle(
          [](const RuntimeSettings& s) { return py::make_tuple(runtime_cache_field(s)); },
          [](const py::tuple& state) {
            if (state.size() != 1) {
              raise(Status::InvalidArgument("RuntimeSettings: unsupported pickle state"));
            }
            return settings_from(state[0]);
          }));
}

void define_config(py::module_& m) {
  using Headers = std::vector<std::pair<std::string, std::string>>;
  py::class_<EngineConfig>(m, "EngineConfig", "What an Engine compiles, and how.")
      .def(py::init([](std::string source, std::string name, Headers headers,
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
           py::arg("headers") = Headers{}, py::arg("options") = std::vector<std::string>{},
           py::arg("arch") = "sm_90", py::arg("nvrtc_library") = "")
      .def_readwrite("source", &EngineConfig::source, "CUDA C++ source.")
      .def_readwrite("name", &EngineConfig::name, "Names the module in logs and metadata.")
      .def_readwrite("headers", &EngineConfig::headers,
                     "Extra headers as a list of (name, contents); assign, do not mutate.")
      .def_readwrite("options", &EngineConfig::options,
                     "NVRTC options, e.g. ['-std=c++17']; assign, do not mutate.")
      .def_readwrite("arch", &EngineConfig::arch, "sm_XX (CUBIN) or compute_XX (PTX).")
      .def_readwrite("nvrtc_library", &EngineConfig::nvrtc_library,
                     "libnvrtc to load; '' uses RTCACHE_NVRTC, else searches CUDA_HOME, CUDA_PATH, "
                     "/usr/local/cuda, LD_LIBRARY_PATH, the system and the loader (engine.h).")
      .def("__repr__",
           [](const EngineConfig& c) {
             return repr_of("EngineConfig", {{"name", py::str(c.name)},
                                             {"arch", py::str(c.arch)},
                                             {"options", py::cast(c.options)}});
           })
      .def(py::pickle(
          [](const EngineConfig& c) {
            return py::make_tuple(c.source, c.name, c.headers, c.options, c.arch, c.nvrtc_library);
          },
          [](const py::tuple& t) {
            if (t.size() != 6) {
              raise(Status::InvalidArgument("EngineConfig: unsupported pickle state"));
            }
            EngineConfig c;
            c.source = t[0].cast<std::string>();
            c.name = t[1].cast<std::string>();
            c.headers = t[2].cast<Headers>();
            c.options = t[3].cast<std::vector<std::string>>();
            c.arch = t[4].cast<std::string>();
            c.nvrtc_library = t[5].cast<std::string>();
            return c;
          }));
}

void define_results(py::module_& m) {
  py::class_<Kernel>(m, "Kernel", "A compiled kernel.")
      .def_property_readonly(
          "binary", [](const Kernel& k) { return to_bytes(k.binary); },
          "CUBIN, or NUL-terminated PTX for a compute_XX arch.")
      .def_readonly("lowered_name", &Kernel::lowered_name)
      .def_readonly("from_cache", &Kernel::from_cache)
      .def_readonly("compile_ms", &Kernel::compile_ms)
      .def_readonly("key", &Kernel::key)
      .def("__repr__", [](const Kernel& k) {
        return repr_of("Kernel", {{"lowered_name", py::str(k.lowered_name)},
                                  {"from_cache", py::bool_(k.from_cache)},
                                  {"size", py::cast(k.binary.size())}});
      });

  py::class_<EngineStats>(m, "EngineStats")
      .def_readonly("hits", &EngineStats::hits)
      .def_readonly("compiles", &EngineStats::compiles)
      .def_readonly("compile_failures", &EngineStats::compile_failures)
      .def_readonly("compile_ms", &EngineStats::compile_ms)
      .def("__repr__", [](const EngineStats& s) {
        return repr_of("EngineStats", {{"hits", py::cast(s.hits)},
                                       {"compiles", py::cast(s.compiles)},
                                       {"compile_failures", py::cast(s.compile_failures)}});
      });
}

void define_engine_class(py::module_& m) {
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
            check(released([&] { return self.kernel(name_expression, &kernel); }));
            return kernel;
          },
          py::arg("name_expression"),
          "The kernel for an NVRTC name expression ('scale<float>'): from the cache, else "
          "compiled and cached. Raises CompileError (an InvalidArgumentError) with NVRTC's log "
          "when NVRTC rejects the source, NotSupportedError on a miss without NVRTC.")
      .def("key_for", &Engine::key_for, py::arg("name_expression"),
           "The cache key kernel() uses (computed without compiling).")
      .def(
          "kernel_names",
          [](Engine& self) {
            std::vector<std::string> names;
            check(released([&] { return self.kernel_names(&names); }));
            return names;
          },
          "Name expressions of the kernels the module defines (no template arguments needed, "
          "or explicitly instantiated), read from NVRTC's output for the whole module: "
          "['ns::inner', 'scale<double>', ...]. Raises CompileError when it does not compile.")
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
      .def("__repr__",
           [](const Engine& self) {
             return "Engine(name=" + std::string(py::repr(py::str(self.config().name))) +
                    ", arch=" + std::string(py::repr(py::str(self.config().arch))) +
                    ", runtime_settings=" + settings_repr(self.runtime_settings()) + ")";
           })
      // An engine pickles as its config and settings: a new engine, loading a
      // path's cache again, or using a new handle pickled from the shared one.
      .def(py::pickle(
          [](const Engine& self) { return py::make_tuple(self.config(), self.runtime_settings()); },
          [](const py::tuple& t) {
            if (t.size() != 2) raise(Status::InvalidArgument("Engine: unsupported pickle state"));
            EngineConfig config = t[0].cast<EngineConfig>();
            RuntimeSettings settings = t[1].cast<RuntimeSettings>();
            return released([&] {
              return GilFreeUnique<Engine>(new Engine(std::move(config), std::move(settings)));
            });
          }));
}

}  // namespace

void define_engine(py::module_& m) {
  define_settings(m);
  define_config(m);
  define_results(m);
  define_engine_class(m);
}

}  // namespace rtcache::python

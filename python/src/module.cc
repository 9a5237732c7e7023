// rtcache._rtcache -- the pybind11 extension behind the `rtcache` package.
//
// One file per public header it binds (see bindings.h for the shared design:
// handles and the GIL, errors, argument types):
//   status.cc       status.h       the exception classes, from one table
//   log.cc          log.h          LogLevel, the `rtcache` logger
//   options.cc      options.h      Compression, sizes and durations, default path
//   cache.cc        runtime_cache.h RuntimeCache, CacheStats, EntryInfo
//   maintenance.cc  maintenance.h  inspect_file, FileReport
//   signals.cc      signals.h      save_on_signals
//   engine.cc       engine.h       Engine, RuntimeSettings, EngineConfig, Kernel
//   scope.cc        engine.h       ScopedRuntimeCache (rtcache.runtime_cache)
#include "bindings.h"

#ifndef RTCACHE_VERSION
#define RTCACHE_VERSION "0"
#endif

PYBIND11_MODULE(_rtcache, m) {
  namespace python = rtcache::python;
  m.doc() = "The compiled core of the rtcache package; import `rtcache`, not this module.";
  m.attr("__version__") = RTCACHE_VERSION;
  python::define_status(m);  // first: the others raise these
  python::define_log(m);
  python::define_options(m);
  python::define_cache(m);
  python::define_maintenance(m);
  python::define_signals(m);
  python::define_engine(m);
  python::define_scope(m);
  python::attach_log_sink();
  py::module_::import("atexit").attr("register")(py::cpp_function(&python::detach_log_sink));
}

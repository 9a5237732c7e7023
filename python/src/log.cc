// Binds include/rtcache/log.h: LogLevel, the threshold, and the log sink that
// forwards rtcache's messages to logging.getLogger("rtcache").
//
// The sink forwards to Python only while the interpreter runs. An atexit
// callback, which Python runs before it tears anything down, puts the
// previous sink (rtcache's stderr sink) back and waits for messages in
// flight, so that nothing rtcache does during finalization or in its C++ exit
// hook (destructor autosaves, the exit-hook saves after Py_Finalize) ever
// calls into Python.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <string_view>
#include <thread>

#include "bindings.h"

namespace rtcache::python {
namespace {

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

}  // namespace

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

void define_log(py::module_& m) {
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
}

}  // namespace rtcache::python

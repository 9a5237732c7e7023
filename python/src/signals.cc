// Binds include/rtcache/signals.h: save_on_signals().
#include "rtcache/signals.h"

#include <csignal>
#include <vector>

#include "bindings.h"

namespace rtcache::python {

void define_signals(py::module_& m) {
  m.def(
      "save_on_signals",
      [](const std::vector<int>& signals, Duration deadline) {
        Status s = Status::OK();
        for (int signo : signals) {
          s = save_on_signals({signo}, deadline.value);
          if (!s.ok()) break;
        }
        check(s);
      },
      py::arg("signals") = std::vector<int>{SIGTERM, SIGINT},
      py::arg("deadline") = Duration{std::chrono::seconds(5)},
      "Opt-in: on the first of these signals, save every live autosaving handle (waiting at "
      "most `deadline`: seconds, a timedelta or a string such as \"5s\") on a dedicated thread, "
      "then restore the signal's previous handler and raise it again, so the process ends (or "
      "not) as it would have.");
}

}  // namespace rtcache::python

// The log sink. Its state is a leaked singleton so that logging keeps working
// from exit hooks and static destructors, whatever the destruction order.
#include "rtcache/log.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string>

namespace rtcache {
namespace {

struct LogState {
  std::mutex mu;
  LogSink sink;                // empty: the default stderr sink
  std::atomic<int> level{-1};  // -1: not yet read from RTCACHE_LOG
};

LogState& state() {
  static LogState* s = new LogState();  // never destroyed, on purpose
  return *s;
}

int current_level() {
  int level = state().level.load(std::memory_order_relaxed);
  if (level >= 0) return level;
  LogLevel parsed = LogLevel::kWarning;
  const char* env = std::getenv("RTCACHE_LOG");
  const bool bad = env != nullptr && *env != '\0' && !parse_log_level(env, &parsed);
  int expected = -1;
  if (state().level.compare_exchange_strong(expected, static_cast<int>(parsed)) && bad) {
    // Said once, by the thread that read it; the level is set, so log() cannot recurse here.
    log(LogLevel::kWarning,
        std::string("RTCACHE_LOG=") + env +
            " is not a level (debug, info, warning, error, off); using warning");
  }
  return state().level.load();
}

}  // namespace

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "?";
}

void stderr_log_sink(LogLevel level, std::string_view message) {
  // One write(2) per line so that lines from several processes do not mix.
  std::string line = "rtcache: ";
  line += log_level_name(level);
  line += ": ";
  line += message;
  line += '\n';
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

bool parse_log_level(std::string_view raw, LogLevel* level) {
  std::string text(raw);
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (text == "debug")
    *level = LogLevel::kDebug;
  else if (text == "info")
    *level = LogLevel::kInfo;
  else if (text == "warning" || text == "warn")
    *level = LogLevel::kWarning;
  else if (text == "error")
    *level = LogLevel::kError;
  else if (text == "off" || text == "none")
    *level = LogLevel::kOff;
  else
    return false;
  return true;
}

LogSink set_log_sink(LogSink sink) {
  std::lock_guard<std::mutex> lock(state().mu);
  std::swap(state().sink, sink);
  return sink;
}

void set_log_level(LogLevel level) {
  state().level.store(static_cast<int>(level));
}

LogLevel log_level() {
  return static_cast<LogLevel>(current_level());
}

void log(LogLevel level, std::string_view message) {
  if (level == LogLevel::kOff || static_cast<int>(level) < current_level()) return;
  LogSink sink;
  {
    std::lock_guard<std::mutex> lock(state().mu);
    sink = state().sink;
  }
  try {
    if (sink) {
      sink(level, message);
    } else {
      stderr_log_sink(level, message);
    }
  } catch (...) {
    // A throwing application sink must not turn a warning into a crash.
  }
}

}  // namespace rtcache

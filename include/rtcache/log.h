// rtcache logging -- where warnings from paths that cannot return an error go.
//
// Autosave in a destructor or at process exit, a damaged record skipped while
// reading, a default directory that is not writable: these are reported once,
// as one line naming the file and the reason, through the log sink. The
// default sink writes "rtcache: warning: ..." to stderr for levels at or above
// the threshold, which is taken from the environment variable RTCACHE_LOG
// (debug, info, warning, error, off, in any case; default warning) when first
// needed. A value that is none of those is one warning naming it.
//
// Thread safety: all functions may be called from any thread, also during
// static destruction. The sink is called without rtcache locks held, possibly
// from several threads at once.
#pragma once

#include <functional>
#include <string_view>

#include "rtcache/export.h"

namespace rtcache {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// Replaces the sink; an empty function restores the default stderr sink.
// Returns the previous sink (empty when it was the default).
RTCACHE_EXPORT LogSink set_log_sink(LogSink sink);

// Messages below `level` are dropped before reaching the sink.
RTCACHE_EXPORT void set_log_level(LogLevel level);
RTCACHE_EXPORT LogLevel log_level();

// Parses "debug", "info", "warning"/"warn", "error", "off"/"none", in any
// case; false otherwise.
RTCACHE_EXPORT bool parse_log_level(std::string_view text, LogLevel* level);

// "debug", "info", "warning", "error" or "off": what parse_log_level reads.
RTCACHE_EXPORT std::string_view log_level_name(LogLevel level);

RTCACHE_EXPORT void log(LogLevel level, std::string_view message);

// The default sink: "rtcache: warning: message" to stderr in one write(2), so
// that lines from several processes do not mix. A custom sink may fall back
// to it (for example once its own destination is gone).
RTCACHE_EXPORT void stderr_log_sink(LogLevel level, std::string_view message);

}  // namespace rtcache

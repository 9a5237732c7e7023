// Text conventions of the rtcache command-line tool: how keys, sizes,
// durations and timestamps are written on the command line and in output,
// and whole-file input/output with errors that name the file.
#pragma once

#include <chrono>
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <string_view>

#include "rtcache/status.h"

namespace rtcache::cli {

// KEY on the command line: text as given, or "hex:" followed by an even
// number of hex digits for arbitrary bytes. False (with *error set) when the
// hex form is malformed.
bool ParseKey(std::string_view text, std::string* key, std::string* error);

// A key (or metadata) as the tool prints it: as is when every byte is
// printable ASCII, else "hex:" + lowercase hex. Text that is empty or starts
// with "hex:" is printed in hex too, so that every printed key parses back
// to the same bytes with ParseKey.
std::string DisplayKey(std::string_view key);

// Nanoseconds since the Unix epoch as ISO-8601 UTC to the second
// ("2025-01-31T17:04:05Z"); "-" for 0, which the library uses for "none".
std::string FormatTimestamp(int64_t epoch_ns);

// "1536 (1.5 KiB)"-style rendering for human output.
std::string FormatBytes(uint64_t bytes);

// Replaces line breaks so that an error is always exactly one line.
std::string OneLine(std::string_view text);

// Reads all of `path`, or of standard input when path is "-": at most
// `max_bytes` (InvalidArgument naming the input and the limit beyond that, so
// an endless input cannot exhaust memory).
Status ReadInput(const std::string& path, uint64_t max_bytes, std::string* data);

// Opens `path` for reading, or standard input when path is "-".
Status OpenInput(const std::string& path, std::unique_ptr<std::istream>* stream);

// Writes all of data to `path` (created or truncated, mode 0666 less the
// umask), or to standard output when path is "-".
Status WriteOutput(const std::string& path, std::string_view data);

}  // namespace rtcache::cli

// Whether a file may be trusted: a cache holds code that will run, so bytes
// another user could have written are never served unless the caller says so.
#pragma once

#include <string>

#include "rtcache/env.h"
#include "storage/view.h"

namespace rtcache::store {

// The rules (also in docs/design.md, "Trust"), unless the limits trust others:
// - the file is owned by this user or by root, and writable by no one else
//   (a cache warmed as root at image build is read by the service's user);
// - its directory is owned by this user or root and writable by no one else,
//   or is sticky (as /tmp) and the file is this user's (ssh's StrictModes).
// Checks are made on what was opened (fstat of the descriptor that is read or
// written), so swapping files between a check and an open changes nothing.

// PermissionDenied unless the file may be trusted.
Status check_trust(const std::string& path, const FileInfo& info, const Limits& limits);

// PermissionDenied unless the directory holding `path` may be trusted.
Status check_dir_trust(Env* env, const std::string& path, const Limits& limits);

// Both, for an open file: its own fstat, then its directory.
Status check_opened_trust(Env* env, File& file, const Limits& limits);

}  // namespace rtcache::store

// Whether a file may be trusted: a cache holds code that will run, so bytes
// another user could have written are never served unless the caller says so.
#pragma once

#include <string>

#include "rtcache/env.h"
#include "storage/view.h"

namespace rtcache::store {

// PermissionDenied unless the file is owned by this user and writable by no
// one else, or the limits trust others.
Status check_trust(const std::string& path, const FileInfo& info, const Limits& limits);

}  // namespace rtcache::store

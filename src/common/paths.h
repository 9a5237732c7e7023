// Splitting file paths (no file-system access).
#pragma once

#include <string>

namespace rtcache {

// The directory part: "." for a bare name, "/" for a file in the root.
std::string parent_dir(const std::string& path);

// The last component.
std::string base_name(const std::string& path);

}  // namespace rtcache

// A read-only File over bytes in memory, so that serialize() images are
// parsed by the same code that reads files.
#pragma once

#include <memory>
#include <string>

#include "rtcache/env.h"

namespace rtcache::store {

std::shared_ptr<File> memory_file(std::string name, std::string bytes);

}  // namespace rtcache::store

// A whole cache file as bytes in memory (header, records, a full index), as
// RuntimeCache::serialize() returns it. No id and no times: the same records
// give the same bytes.
#pragma once

#include <string>
#include <vector>

#include "storage/writer.h"

namespace rtcache::store {

std::string build_image(const std::vector<EncodedRecord>& records);

}  // namespace rtcache::store

// locate_nvrtc (include/rtcache/nvrtc_location.h): the engine's own search.
#include "rtcache/nvrtc_location.h"

#include "jit/nvrtc.h"

namespace rtcache {

Status locate_nvrtc(std::string* path, std::string* identity) {
  std::string found, id;
  Status s = nvrtc::locate("", &found, &id);
  if (!s.ok()) return s;
  *path = std::move(found);
  if (identity != nullptr) *identity = std::move(id);
  return s;
}

}  // namespace rtcache

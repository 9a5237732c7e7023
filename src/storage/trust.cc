#include "storage/trust.h"

#include <unistd.h>

#include <cstdio>

namespace rtcache::store {

Status check_trust(const std::string& path, const FileInfo& info, const Limits& limits) {
  if (limits.trust_others || !info.is_regular) return Status::OK();
  if (info.owner_uid != static_cast<uint32_t>(::geteuid())) {
    return Status::PermissionDenied(path + ": owned by another user (uid " +
                                    std::to_string(info.owner_uid) +
                                    "); not trusted (allow a group-shared cache with trust_others, "
                                    "--trust-others or RTCACHE_TRUST_OTHERS=1)");
  }
  if (info.mode & 0022) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", info.mode & 07777);
    return Status::PermissionDenied(path + ": writable by group or others (mode " + mode +
                                    "); not trusted (allow a group-shared cache with trust_others, "
                                    "--trust-others or RTCACHE_TRUST_OTHERS=1)");
  }
  return Status::OK();
}

}  // namespace rtcache::store

#include "storage/trust.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "common/paths.h"

namespace rtcache::store {
namespace {

constexpr const char* kHowToAllow =
    "not trusted (allow a group-shared cache with trust_others, --trust-others or "
    "RTCACHE_TRUST_OTHERS=1)";

std::string octal_mode(uint32_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode & 07777);
  return text;
}

}  // namespace

Status check_trust(const std::string& path, const FileInfo& info, const Limits& limits) {
  if (limits.trust_others || !info.is_regular) return Status::OK();
  // Root's files are trusted as the system's are (a cache warmed as root at
  // image build, read by the service's user); writable by no one else still.
  if (info.owner_uid != static_cast<uint32_t>(::geteuid()) && info.owner_uid != 0) {
    return Status::PermissionDenied(path + ": owned by another user (uid " +
                                    std::to_string(info.owner_uid) + "); " + kHowToAllow);
  }
  if (info.mode & 0022) {
    return Status::PermissionDenied(path + ": writable by group or others (mode " +
                                    octal_mode(info.mode) + "); " + kHowToAllow);
  }
  return Status::OK();
}

Status check_dir_trust(Env* env, const std::string& path, const Limits& limits) {
  if (limits.trust_others) return Status::OK();
  const std::string dir = parent_dir(path);
  FileInfo info;
  Status s = env->stat(dir, true, &info);
  if (s.is_not_found()) return Status::OK();  // nothing there yet to trust or distrust
  if (!s.ok()) return s;
  const uint32_t self = static_cast<uint32_t>(::geteuid());
  if (info.owner_uid != self && info.owner_uid != 0) {
    return Status::PermissionDenied(dir + ": directory owned by another user (uid " +
                                    std::to_string(info.owner_uid) + "); " + kHowToAllow);
  }
  const bool sticky = (info.mode & S_ISVTX) != 0;
  if ((info.mode & 0022) && !sticky) {
    return Status::PermissionDenied(dir + ": directory writable by group or others (mode " +
                                    octal_mode(info.mode) + "); another user could replace " +
                                    path + "; " + kHowToAllow);
  }
  return Status::OK();
}

Status check_opened_trust(Env* env, File& file, const Limits& limits) {
  if (limits.trust_others) return Status::OK();
  FileInfo info;
  Status s = file.stat(&info);
  if (!s.ok()) return s;
  s = check_trust(file.path(), info, limits);
  if (!s.ok()) return s;
  return check_dir_trust(env, file.path(), limits);
}

}  // namespace rtcache::store

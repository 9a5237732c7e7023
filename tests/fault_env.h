// Test support for the reliability suite (docs/reliability.md).
//
// FaultInjectionEnv -- an Env (see include/rtcache/env.h) that wraps the real
// file system and, in the manner of LevelDB's FaultInjectionTestEnv:
//   - counts every mutating operation the library performs (open for writing,
//     create a temp file, write, sync, truncate, close, rename, directory
//     sync), so that a test can iterate over "every operation position N";
//   - fails the N-th operation (once, or from N on: a full disk stays full)
//     with ENOSPC, EIO or EDQUOT, as Status::IOError carrying strerror's text;
//     a failing write first writes half of its bytes (a torn write, as a
//     disk that fills up mid-write leaves);
//   - simulates a crash: from operation N on, nothing reaches the disk any
//     more (the process is dead), and simulate_crash() then reverts every file
//     to what was durable: data not covered by a successful File::sync is
//     dropped (or kept as a torn prefix, or as a random subset of 512-byte
//     sectors), and renames and creations in a directory that was not synced
//     since are undone;
//   - records a File::sync called again on a File whose sync failed (rtcache
//     promises never to retry a failed fsync on the same File);
//   - offers a fake clock, so that recency (last-use times) is deterministic.
//
// Short writes and EINTR: Env's contract makes File::write_at write all bytes
// or fail, retrying short writes and EINTR inside the POSIX File. Those
// retries sit below the seam, so this Env cannot inject them; the reliability
// child exercises the real path instead by saving under RLIMIT_FSIZE (the
// kernel then returns a short write followed by EFBIG), see fault_test.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "rtcache/env.h"

namespace rtcache::testing {

enum class FaultOp : int {
  kOpenWrite,
  kCreateTemp,
  kWrite,
  kSync,
  kTruncate,
  kClose,
  kRename,
  kSyncDir,
};
const char* fault_op_name(FaultOp op);

// What happens, at a crash, to data written but not synced.
enum class CrashData {
  kDropUnsynced,    // all of it is lost (LevelDB's model)
  kTornPrefix,      // a random-length prefix of it, in write order, survives
  kReorderSectors,  // each 512-byte piece of it survives or not, at random
};
// What happens, at a crash, to creations and renames in a directory that was
// not synced since.
enum class CrashNames {
  kUndoUnsynced,  // they are undone (LevelDB's model)
  kKeepAll,       // they all survive
};
const char* crash_data_name(CrashData mode);
const char* crash_names_name(CrashNames mode);

class FaultInjectionEnv : public EnvWrapper {
 public:
  explicit FaultInjectionEnv(Env* target = Env::default_env());
  ~FaultInjectionEnv() override;

  // --- faults ------------------------------------------------------------------
  // The position-th counted operation from now (1-based) fails with `error`
  // (ENOSPC, EIO, EDQUOT, ...); with `sticky`, every later one fails too.
  void fail_at(int position, int error, bool sticky = false);
  // Every operation of kind `op` from now on fails with `error`.
  void fail_every(FaultOp op, int error);
  // The process dies at the position-th operation from now: it and every
  // later mutating operation fail without touching the disk.
  void crash_at(int position);
  // Disarms faults and the crash; counting continues.
  void clear_faults();
  // Restarts the operation count and the trace (positions count from here).
  void reset_counts();
  int ops() const;
  std::vector<FaultOp> trace() const;
  int count(FaultOp op) const;
  bool fault_fired() const;
  FaultOp fired_op() const;  // the first operation that failed
  // File::sync calls made on a File whose earlier sync had failed.
  int syncs_after_failed_sync() const;
  // Skip the real fsync/fdatasync underneath (durability is modelled here
  // anyway; this keeps thousands of simulated saves fast).
  void set_real_syncs(bool on);
  // Called before every counted operation with the op and its position.
  void set_hook(std::function<void(FaultOp, int)> hook);

  // --- crash -------------------------------------------------------------------
  // Reverts the disk to what a crash could leave (see CrashData/CrashNames);
  // afterwards everything on disk counts as durable and faults are cleared.
  // Call it only when no handle using this Env is alive.
  void simulate_crash(CrashData data, CrashNames names, uint64_t seed);

  // --- clock -------------------------------------------------------------------
  // now_nanos() returns start, start+step, start+2*step, ... (0 step: frozen).
  void set_fake_clock(int64_t start_ns, int64_t step_ns);

  // --- Env ---------------------------------------------------------------------
  Status open_write(const std::string& path, std::unique_ptr<File>* file) override;
  Status create_temp(const std::string& dir, const std::string& prefix, uint32_t mode,
                     std::unique_ptr<File>* file) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status sync_dir(const std::string& dir) override;
  Status create_dirs(const std::string& dir, uint32_t mode) override;
  int64_t now_nanos() override;

  // Used by the files it hands out.
  struct Tracked;
  Status before(FaultOp op, const std::string& path);
  bool torn_failed_writes() const { return true; }
  void record_write(const FileIdentity& id, uint64_t offset, std::string_view data);
  void record_truncate(const FileIdentity& id, uint64_t size);
  void record_sync(const FileIdentity& id, File& file);
  void note_sync_after_failure();
  bool real_syncs() const;

 private:
  struct Pending {
    bool truncate = false;
    uint64_t offset = 0;  // write offset, or the truncated size
    std::string data;
  };
  struct FileState {
    std::string path;     // where the inode lives now
    std::string durable;  // its content at the last successful sync
    std::vector<Pending> pending;
  };
  struct DirOp {
    std::string dir;
    std::string from, to, backup;  // rename (backup: the replaced file, hard-linked)
    std::string created;           // creation (from == "")
  };
  Status track_locked(File& file, bool created, FileIdentity* id);
  std::string backup_name_locked(const std::string& dir);

  mutable std::mutex mu_;
  int ops_ = 0;
  std::vector<FaultOp> trace_;
  int fail_position_ = 0;
  bool fail_every_ = false;
  FaultOp fail_every_op_ = FaultOp::kWrite;
  int fail_error_ = 0;
  bool fail_sticky_ = false;
  int crash_position_ = 0;
  bool crashed_ = false;
  bool fired_ = false;
  FaultOp fired_op_ = FaultOp::kWrite;
  int syncs_after_failure_ = 0;
  bool real_syncs_ = true;
  std::function<void(FaultOp, int)> hook_;
  std::map<std::pair<uint64_t, uint64_t>, FileState> files_;  // by (device, inode)
  std::vector<DirOp> dir_ops_;
  uint64_t next_backup_ = 0;
  bool fake_clock_ = false;
  int64_t clock_ns_ = 0;
  int64_t clock_step_ns_ = 0;
};

}  // namespace rtcache::testing

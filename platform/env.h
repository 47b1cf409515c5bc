// The OS seam (after LevelDB's Env). The agent reaches the clock and the files it writes
// itself (segments, tombstones, status, metrics) only through an Env, so a test can wrap
// one and inject ENOSPC at a write, EIO at an fsync, a crash at a named point, or a wall
// clock one hour back. SQLite reaches the same fault hooks through the VFS shim in
// platform/sqlite_fault_vfs.cpp, which asks InjectedErrno() and reports to ObserveSqlite().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "platform/result.h"

namespace granary {

// A file being written. Not thread-safe; one owner.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Sync() = 0;  // fdatasync: data is durable once this returns ok
  virtual Status Close() = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // Wall clock, milliseconds since the Unix epoch, UTC. May step in either direction.
  virtual int64_t WallNowMs() = 0;
  // Monotonic clock in nanoseconds that keeps counting across a suspend (CLOCK_BOOTTIME),
  // so the scheduler can see the ticks a suspend swallowed.
  virtual int64_t MonoNowNs() = 0;
  // True when the kernel says the wall clock is synchronized (adjtimex: no STA_UNSYNC).
  virtual bool ClockSynchronized() = 0;

  // Creates or truncates `path` for writing.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // fsync of a directory, so that a rename or unlink in it survives a power cut.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Status CreateDirs(const std::string& dir) = 0;
  // Bytes free for an unprivileged writer on the filesystem holding `path`.
  virtual Result<uint64_t> FreeBytes(const std::string& path) = 0;
  // Size of a file, not following a final symlink; ENOENT when there is none.
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // The names in `dir` but "." and "..", in no particular order.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // A whole file; EFBIG when it holds more than `max_bytes`.
  virtual Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) = 0;
  virtual void SleepForMs(int64_t ms) = 0;

  // Test hook: a named point on a path where a crash must be survivable
  // (e.g. "seal.after_rename"). A no-op in the real Env; platform/test_hooks.h kills the
  // process there when GRANARY_CRASH_POINT names the point, so crash tests can drive the
  // real binary.
  virtual void CrashPoint(std::string_view name) = 0;

  // Test hook for code the seam cannot wrap (SQLite's VFS): the errno to fail `op` with,
  // or 0. Ops: "sqlite.write", "sqlite.sync", "sqlite.truncate", "sqlite.delete".
  virtual int InjectedErrno(std::string_view op) = 0;

  // Test hook for the VFS shim, so a power-cut test can undo what SQLite never made
  // durable: called before SQLite opens a file it may create, before each write (`size`
  // bytes at `offset`), truncate (to `size`) and delete, and after each sync that worked.
  // A no-op here: Env::Default() opens databases with SQLite's own VFS, so production
  // never calls it.
  enum class SqliteIo { kOpen, kWrite, kTruncate, kDelete, kSynced };
  virtual void ObserveSqlite(SqliteIo /*io*/, const std::string& /*path*/, int64_t /*offset*/,
                             int64_t /*size*/) {}

  // Test hook: a named point where the calling thread can be made to hang forever, so a
  // test can prove the systemd watchdog notices. A no-op in the real Env; see
  // platform/test_hooks.h (GRANARY_TEST_HANG_SCHEDULER).
  virtual void HangPoint(std::string_view name) = 0;

  // The process-wide real environment.
  static Env& Default();
};

// Forwards every call to a target; a test overrides only what it needs.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env& target) : target_(target) {}
  int64_t WallNowMs() override { return target_.WallNowMs(); }
  int64_t MonoNowNs() override { return target_.MonoNowNs(); }
  bool ClockSynchronized() override { return target_.ClockSynchronized(); }
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return target_.NewWritableFile(path);
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    return target_.RenameFile(from, to);
  }
  Status RemoveFile(const std::string& path) override { return target_.RemoveFile(path); }
  Status SyncDir(const std::string& dir) override { return target_.SyncDir(dir); }
  Status CreateDirs(const std::string& dir) override { return target_.CreateDirs(dir); }
  Result<uint64_t> FreeBytes(const std::string& path) override { return target_.FreeBytes(path); }
  Result<uint64_t> FileSize(const std::string& path) override { return target_.FileSize(path); }
  bool FileExists(const std::string& path) override { return target_.FileExists(path); }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return target_.ListDir(dir);
  }
  Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) override {
    return target_.ReadFile(path, max_bytes);
  }
  void SleepForMs(int64_t ms) override { target_.SleepForMs(ms); }
  void CrashPoint(std::string_view name) override { target_.CrashPoint(name); }
  int InjectedErrno(std::string_view op) override { return target_.InjectedErrno(op); }
  void HangPoint(std::string_view name) override { target_.HangPoint(name); }
  void ObserveSqlite(SqliteIo io, const std::string& path, int64_t offset, int64_t size) override {
    target_.ObserveSqlite(io, path, offset, size);
  }

 protected:
  Env& target() { return target_; }

 private:
  Env& target_;
};

// Writes `data` to `path` so that a reader sees either the old file or the whole new one:
// temp file, rename. With `durable`, also fsync of the file and of the directory, so the
// new content survives a power cut; without, for files rewritten every few seconds
// (status, metrics) where flash wear matters more than the last version.
Status WriteFileAtomically(Env& env, const std::string& path, std::string_view data,
                           bool durable = true);

}  // namespace granary

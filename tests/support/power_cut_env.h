// A test Env that knows what a power cut would keep (LevelDB's fault_injection_test idea,
// extended to directories and SQLite). Under `root` it tracks, per file, the bytes made
// durable (Env files: the size at the last Sync; SQLite files: every write and truncate
// since the last sync, with the bytes it overwrote), and per name, the entry a directory
// held at its last SyncDir. Cut() fails every later change with EIO; Revert(), once no
// one writes any more, puts the disk back to what was durable:
// - Env files lose what was appended after their last Sync;
// - SQLite files lose their unsynced writes and truncates (the old bytes come back), and
//   every -shm file goes (SQLite rebuilds it);
// - names created, renamed over or removed since their directory's last sync are undone:
//   a new name disappears, and a replaced or removed file comes back with its durable
//   bytes. SQLite creating a -wal or -journal file syncs its directory at the file's
//   first sync, as SQLite's unix VFS does.
// Simplifications: directories themselves are durable once created; a cut undoes every
// unsynced directory change (a real disk may keep some); O_TRUNC of an existing file keeps
// it under its name with nothing durable.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "platform/env.h"

namespace granary::testing {

class PowerCutEnv : public EnvWrapper {
 public:
  explicit PowerCutEnv(std::string root);

  // The cut happens at the `n`th change from now (a write, sync, truncate, rename or
  // remove, through the Env or SQLite), which fails; n <= 0: never by count.
  void CutAfter(int64_t n);
  void Cut();
  bool cut() const { return cut_.load(); }
  // REQUIRES: every writer stopped and every database closed.
  void Revert();
  // Called after each sync of a SQLite file under root, on the syncing thread.
  void OnSqliteSync(std::function<void(const std::string& path)> fn) { on_sync_ = std::move(fn); }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status SyncDir(const std::string& dir) override;
  int InjectedErrno(std::string_view op) override;
  void ObserveSqlite(SqliteIo io, const std::string& path, int64_t offset, int64_t size) override;

 private:
  class File;
  static constexpr uint64_t kAll = UINT64_MAX;

  struct Node {
    std::string path;        // where it lives now; empty once unlinked
    uint64_t synced = kAll;  // Env files: bytes durable; kAll: all of them
    // SQLite files: what each write or truncate since the last sync overwrote, oldest first,
    // and the size at that sync (-1: nothing changed since).
    std::vector<std::pair<int64_t, std::string>> undo;
    int64_t size_at_sync = -1;
    std::optional<std::string> saved;  // the durable bytes of an unlinked file
  };

  // Counts one change; false (and cut from then on) when it must fail.
  bool Change();
  bool Tracked(const std::string& path) const;
  // REQUIRES: mu_ held, for all below.
  int NodeAt(const std::string& path);  // -1: no file there
  void RecordEntry(const std::string& path);
  std::string DurableBytes(int id);
  void Unlinked(int id, std::string durable);
  void DirSynced(const std::string& dir);
  void RevertContent(Node& n);

  const std::string root_;
  std::atomic<bool> cut_{false};
  std::function<void(const std::string&)> on_sync_;

  std::mutex mu_;
  int64_t cut_at_ = 0;  // changes left before the cut; 0: no cut by count
  int next_id_ = 0;
  std::map<int, Node> nodes_;
  std::map<std::string, int> live_;  // path -> node
  // Path -> the node durable under it (nullopt: none), recorded at the first change of
  // the name since its directory's last sync.
  std::map<std::string, std::optional<int>> durable_entry_;
};

}  // namespace granary::testing

#include "tests/support/power_cut_env.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace granary::testing {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Bytes [offset, offset + n) of a file, fewer where it ends.
std::string ReadAt(const std::string& path, int64_t offset, int64_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(offset);
  std::string out(static_cast<size_t>(std::max<int64_t>(n, 0)), '\0');
  in.read(out.data(), n);
  out.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return out;
}

int64_t SizeOf(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

std::string Parent(const std::string& path) { return fs::path(path).parent_path().string(); }

}  // namespace

PowerCutEnv::PowerCutEnv(std::string root)
    : EnvWrapper(Env::Default()), root_(fs::path(std::move(root)).lexically_normal().string()) {}

// Appends pass through; a Sync makes what was appended so far durable.
class PowerCutEnv::File : public WritableFile {
 public:
  File(PowerCutEnv& env, int id, std::unique_ptr<WritableFile> real)
      : env_(env), id_(id), real_(std::move(real)) {}
  Status Append(std::string_view data) override {
    if (!env_.Change()) return Error("write: power cut", EIO);
    written_ += data.size();
    return real_->Append(data);
  }
  Status Sync() override {
    if (!env_.Change()) return Error("fsync: power cut", EIO);
    Status s = real_->Sync();
    if (s && id_ >= 0) {
      std::lock_guard<std::mutex> lock(env_.mu_);
      env_.nodes_[id_].synced = written_;
    }
    return s;
  }
  Status Close() override { return real_->Close(); }

 private:
  PowerCutEnv& env_;
  int id_;  // -1: not under root
  uint64_t written_ = 0;
  std::unique_ptr<WritableFile> real_;
};

void PowerCutEnv::CutAfter(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  cut_at_ = n > 0 ? n : 0;
}

void PowerCutEnv::Cut() { cut_ = true; }

bool PowerCutEnv::Change() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cut_at_ > 0 && --cut_at_ == 0) cut_ = true;
  return !cut_;
}

bool PowerCutEnv::Tracked(const std::string& path) const {
  return path.size() > root_.size() && path.compare(0, root_.size(), root_) == 0 &&
         path[root_.size()] == '/' && !path.ends_with("-shm");
}

int PowerCutEnv::NodeAt(const std::string& path) {
  if (auto it = live_.find(path); it != live_.end()) return it->second;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return -1;
  int id = next_id_++;
  nodes_[id].path = path;  // there before this env: all of it durable
  live_[path] = id;
  return id;
}

void PowerCutEnv::RecordEntry(const std::string& path) {
  if (durable_entry_.count(path) != 0) return;
  int id = NodeAt(path);
  durable_entry_[path] = id < 0 ? std::nullopt : std::optional<int>(id);
}

std::string PowerCutEnv::DurableBytes(int id) {
  Node& n = nodes_[id];
  if (n.path.empty()) return n.saved.value_or("");
  std::string bytes = Slurp(n.path);
  for (auto it = n.undo.rbegin(); it != n.undo.rend(); ++it) {
    size_t end = static_cast<size_t>(it->first) + it->second.size();
    if (bytes.size() < end) bytes.resize(end);
    std::memcpy(bytes.data() + it->first, it->second.data(), it->second.size());
  }
  if (n.size_at_sync >= 0) bytes.resize(static_cast<size_t>(n.size_at_sync));
  if (n.synced != kAll && bytes.size() > n.synced) bytes.resize(n.synced);
  return bytes;
}

void PowerCutEnv::Unlinked(int id, std::string durable) {
  Node& n = nodes_[id];
  live_.erase(n.path);
  n.path.clear();
  n.undo.clear();
  n.size_at_sync = -1;
  n.saved = std::move(durable);
}

void PowerCutEnv::DirSynced(const std::string& dir) {
  for (auto it = durable_entry_.begin(); it != durable_entry_.end();) {
    it = Parent(it->first) == dir ? durable_entry_.erase(it) : std::next(it);
  }
}

Result<std::unique_ptr<WritableFile>> PowerCutEnv::NewWritableFile(const std::string& path) {
  if (!Change()) return Error("create " + path + ": power cut", EIO);
  std::lock_guard<std::mutex> lock(mu_);
  if (Tracked(path)) RecordEntry(path);
  auto real = EnvWrapper::NewWritableFile(path);
  if (!real) return real;
  int id = -1;
  if (Tracked(path)) {
    id = NodeAt(path);
    nodes_[id].synced = 0;
  }
  return std::unique_ptr<WritableFile>(new File(*this, id, std::move(*real)));
}

Status PowerCutEnv::RenameFile(const std::string& from, const std::string& to) {
  if (!Change()) return Error("rename " + from + ": power cut", EIO);
  std::lock_guard<std::mutex> lock(mu_);
  if (!Tracked(from) || !Tracked(to)) return EnvWrapper::RenameFile(from, to);
  RecordEntry(from);
  RecordEntry(to);
  const int moving = NodeAt(from);
  const int replaced = NodeAt(to);
  std::string replaced_bytes = replaced >= 0 ? DurableBytes(replaced) : "";
  if (Status s = EnvWrapper::RenameFile(from, to); !s) return s;
  if (replaced >= 0) Unlinked(replaced, std::move(replaced_bytes));
  if (moving >= 0) {
    live_.erase(from);
    live_[to] = moving;
    nodes_[moving].path = to;
  }
  return Status::Ok();
}

Status PowerCutEnv::RemoveFile(const std::string& path) {
  if (!Change()) return Error("remove " + path + ": power cut", EIO);
  std::lock_guard<std::mutex> lock(mu_);
  if (!Tracked(path)) return EnvWrapper::RemoveFile(path);
  RecordEntry(path);
  const int id = NodeAt(path);
  std::string bytes = id >= 0 ? DurableBytes(id) : "";
  if (Status s = EnvWrapper::RemoveFile(path); !s) return s;
  if (id >= 0) Unlinked(id, std::move(bytes));
  return Status::Ok();
}

Status PowerCutEnv::SyncDir(const std::string& dir) {
  if (!Change()) return Error("fsync directory " + dir + ": power cut", EIO);
  Status s = EnvWrapper::SyncDir(dir);
  if (s) {
    std::lock_guard<std::mutex> lock(mu_);
    DirSynced(fs::path(dir).lexically_normal().string());
  }
  return s;
}

int PowerCutEnv::InjectedErrno(std::string_view) { return Change() ? 0 : EIO; }

void PowerCutEnv::ObserveSqlite(SqliteIo io, const std::string& path, int64_t offset,
                                int64_t size) {
  if (!Tracked(path)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (io == SqliteIo::kOpen) {
      if (NodeAt(path) < 0) RecordEntry(path);
      return;
    }
    if (io == SqliteIo::kDelete) {
      RecordEntry(path);
      if (int id = NodeAt(path); id >= 0) Unlinked(id, DurableBytes(id));
      return;
    }
    const int id = NodeAt(path);
    if (id < 0) return;
    Node& n = nodes_[id];
    if (io == SqliteIo::kSynced) {
      n.undo.clear();
      n.size_at_sync = -1;
      // SQLite's unix VFS syncs the directory of a journal it created, at its first sync.
      if ((path.ends_with("-wal") || path.ends_with("-journal")) && durable_entry_.count(path)) {
        DirSynced(Parent(path));
      }
    } else {
      const int64_t now = SizeOf(path);
      if (n.size_at_sync < 0) n.size_at_sync = now;
      if (io == SqliteIo::kWrite) n.undo.emplace_back(offset, ReadAt(path, offset, size));
      if (io == SqliteIo::kTruncate) n.undo.emplace_back(size, ReadAt(path, size, now - size));
      return;
    }
  }
  if (on_sync_) on_sync_(path);
}

void PowerCutEnv::RevertContent(Node& n) {
  if (n.path.empty()) return;
  if (n.synced == kAll && n.size_at_sync < 0) return;
  std::error_code ec;
  const int64_t size = SizeOf(n.path);
  if (n.synced != kAll && static_cast<uint64_t>(size) > n.synced) {
    fs::resize_file(n.path, n.synced, ec);
  }
  if (n.size_at_sync < 0) return;
  {
    std::fstream f(n.path, std::ios::in | std::ios::out | std::ios::binary);
    for (auto it = n.undo.rbegin(); it != n.undo.rend(); ++it) {
      f.seekp(it->first);
      f.write(it->second.data(), static_cast<std::streamsize>(it->second.size()));
    }
  }
  fs::resize_file(n.path, static_cast<uintmax_t>(n.size_at_sync), ec);
  n.undo.clear();
  n.size_at_sync = -1;
}

void PowerCutEnv::Revert() {
  cut_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, n] : nodes_) RevertContent(n);
  // Every name goes back to the file durable under it, or to none.
  std::vector<std::pair<std::string, std::optional<std::string>>> names;
  for (const auto& [path, id] : durable_entry_) {
    names.emplace_back(path, id ? std::optional<std::string>(DurableBytes(*id)) : std::nullopt);
  }
  std::error_code ec;
  for (const auto& [path, bytes] : names) fs::remove(path, ec);
  for (const auto& [path, bytes] : names) {
    if (bytes) Spit(path, *bytes);
  }
  std::vector<fs::path> shm;
  for (const auto& e : fs::recursive_directory_iterator(root_, ec)) {
    if (e.path().string().ends_with("-shm")) shm.push_back(e.path());
  }
  for (const fs::path& p : shm) fs::remove(p, ec);
  nodes_.clear();
  live_.clear();
  durable_entry_.clear();
}

}  // namespace granary::testing

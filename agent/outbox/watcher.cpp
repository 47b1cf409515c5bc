#include "agent/outbox/watcher.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "agent/outbox/uuid.h"
#include "platform/log.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

// While entries wait for the quota, how often they are looked at again.
constexpr milliseconds kQuotaRecheck{2000};
constexpr int64_t kMsNs = 1'000'000;

std::string BaseName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

Result<std::unique_ptr<OutboxWatcher>> OutboxWatcher::Start(Env& env,
                                                            OutboxWatcherOptions options) {
  if (Status s = env.CreateDirs(OutboxCopiesDir(options.state_dir)); !s) return s.error();
  for (const OutboxConfig& o : options.outboxes) {
    if (::mkdir(o.path.c_str(), 0750) != 0 && errno != EEXIST)
      return Error::FromErrno("outbox " + o.name + ": create " + o.path);
  }
  auto catalog = SegmentCatalog::OpenForUploads(env, options.state_dir);
  if (!catalog) return catalog.error();
  auto watch = DirWatch::Open();
  if (!watch) return watch.error();
  std::unique_ptr<OutboxWatcher> w(
      new OutboxWatcher(env, std::move(options), std::move(*catalog), std::move(*watch)));
  (void)w->watch_.SignalOnChange();
  w->Rescan();
  w->TakeDue();
  w->SweepOrphans();
  return w;
}

OutboxWatcher::OutboxWatcher(Env& env, OutboxWatcherOptions options,
                             std::unique_ptr<SegmentCatalog> catalog, DirWatch watch)
    : env_(env),
      options_(std::move(options)),
      catalog_(std::move(catalog)),
      watch_(std::move(watch)),
      // Local copies count with the buffer's usage: the daemon's `room` knows only the latter.
      taker_(env_, options_.state_dir, *catalog_, [this](uint64_t more) {
        auto local = catalog_->OutboxLocalBytes();
        return options_.room == nullptr || options_.room(more + (local ? *local : 0));
      }) {
  for (const OutboxConfig& o : options_.outboxes) {
    OutboxStatus s;
    s.name = o.name;
    s.path = o.path;
    stats_.push_back(std::move(s));
  }
}

std::optional<std::pair<size_t, std::string>> OutboxWatcher::Locate(const std::string& path) const {
  const std::filesystem::path p(path);
  const std::string parent = p.parent_path().string();
  for (size_t i = 0; i < options_.outboxes.size(); ++i) {
    const OutboxConfig& o = options_.outboxes[i];
    if (OutboxIgnores(o, p.filename().string())) continue;
    if (parent == o.path) return std::make_pair(i, std::string());
    const std::string uuid = p.parent_path().filename().string();
    if (p.parent_path().parent_path().string() == o.path && ValidUuid(uuid))
      return std::make_pair(i, uuid);
  }
  return std::nullopt;
}

void OutboxWatcher::ScanDir(size_t outbox, const std::string& dir, const std::string& uuid,
                            bool ready) {
  if (Status s = watch_.Add(dir); !s) log::Warning("outbox: {}", s.error().message());
  auto names = env_.ListDir(dir);
  if (!names) {
    stats_[outbox].last_error = names.error().message();
    return;
  }
  for (const std::string& name : *names) {
    if (OutboxIgnores(options_.outboxes[outbox], name)) continue;
    const std::string path = dir + "/" + name;
    if (IsDir(path)) {
      if (!uuid.empty()) continue;  // attachments are one level deep
      if (ValidUuid(name)) {
        ScanDir(outbox, path, name, /*ready=*/false);
        RemoveIfSpent(outbox, path);
      } else if (foreign_dirs_.insert(path).second) {
        log::Warning(
            "outbox {}: {} is not named by a report's UUID: nothing in it is taken "
            "(docs/outbox.md)",
            options_.outboxes[outbox].name, path);
      }
      continue;
    }
    Consider(outbox, path, uuid, ready);
  }
}

// With after = "delete" an attachment directory empties as its files are taken. It goes
// once it stayed empty for a rescan interval, so a producer that makes the directory before
// moving files into it has that long; rmdir(2) never removes a directory with anything in it.
void OutboxWatcher::RemoveIfSpent(size_t outbox, const std::string& dir) {
  const OutboxConfig& o = options_.outboxes[outbox];
  if (!o.delete_after) return;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return;
  const int64_t mtime_ms =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / kMsNs;
  if (env_.WallNowMs() - mtime_ms < o.rescan.count()) return;
  if (::rmdir(dir.c_str()) == 0) log::Info("outbox {}: removed the empty {}", o.name, dir);
}

void OutboxWatcher::Rescan() {
  for (size_t i = 0; i < options_.outboxes.size(); ++i)
    ScanDir(i, options_.outboxes[i].path, "", false);
  milliseconds every = milliseconds::max();
  for (const OutboxConfig& o : options_.outboxes) every = std::min(every, o.rescan);
  next_rescan_ns_ = options_.outboxes.empty() ? 0 : env_.MonoNowNs() + every.count() * kMsNs;
}

// A file only closed may be written again: it is taken once its mtime is `settle` old.
void OutboxWatcher::Consider(size_t outbox, const std::string& path, const std::string& uuid,
                             bool ready) {
  int64_t due = env_.MonoNowNs();
  if (!ready) {
    auto id = IdentityOf(path);
    if (!id) return;  // gone, or not a regular file
    const int64_t age_ns = env_.WallNowMs() * kMsNs - id->mtime_ns;
    const int64_t settle_ns = options_.outboxes[outbox].settle.count() * kMsNs;
    if (age_ns < settle_ns) due += settle_ns - std::max<int64_t>(age_ns, 0);
  }
  auto [it, inserted] = candidates_.try_emplace(path, Candidate{outbox, uuid, due});
  if (!inserted) it->second.due_ns = ready ? due : std::max(it->second.due_ns, due);
}

void OutboxWatcher::TakeDue() {
  const int64_t now = env_.MonoNowNs();
  for (auto it = candidates_.begin(); it != candidates_.end();) {
    Candidate& c = it->second;
    if (c.due_ns > now) {
      ++it;
      continue;
    }
    const OutboxConfig& o = options_.outboxes[c.outbox];
    OutboxStatus& st = stats_[c.outbox];
    TakeResult r = taker_.Take(o, it->first, c.uuid);
    switch (r.outcome) {
      case TakeOutcome::kTaken:
        ++st.taken;
        did_ = true;
        log::Info("outbox {}: took {} {} ({} {}, {} bytes)", o.name, r.entry.role, it->first,
                  r.entry.kind, r.entry.uuid, r.entry.size);
        if (options_.taken) options_.taken();
        break;
      case TakeOutcome::kRejected:
        ++st.rejected;
        st.last_rejection = it->first + ": " + r.detail;
        did_ = true;
        log::Error("outbox {}: rejected {}: {} (moved to {}/.rejected/)", o.name, it->first,
                   r.detail, o.path);
        break;
      case TakeOutcome::kWaitQuota:
      case TakeOutcome::kChanged: {
        c.waiting_quota = r.outcome == TakeOutcome::kWaitQuota;
        if (auto id = IdentityOf(it->first); id && c.waiting_quota) c.bytes = id->size;
        const milliseconds again = r.outcome == TakeOutcome::kWaitQuota ? kQuotaRecheck : o.settle;
        c.due_ns = now + again.count() * kMsNs;
        ++it;
        continue;
      }
      case TakeOutcome::kError:
        if (env_.FileExists(it->first)) {
          st.last_error = r.detail;
          log::Warning("outbox {}: {}: {} (tried again at the next rescan)", o.name, it->first,
                       r.detail);
        }
        break;
      case TakeOutcome::kAlreadyTaken:
        break;
    }
    it = candidates_.erase(it);
  }
}

bool OutboxWatcher::Poll() {
  did_ = false;
  std::vector<std::string> moved_in;
  std::vector<std::string> changed = watch_.Changed(&moved_in);
  bool rescan = env_.MonoNowNs() >= next_rescan_ns_ && next_rescan_ns_ != 0;
  for (const std::string& path : changed) {
    if (path.empty()) {  // the kernel dropped events
      rescan = true;
      continue;
    }
    // A report's attachments renamed in whole (.<uuid>.incoming/ to <uuid>/) are complete.
    const bool ready_dir = std::find(moved_in.begin(), moved_in.end(), path) != moved_in.end();
    for (size_t i = 0; i < options_.outboxes.size(); ++i) {
      const OutboxConfig& o = options_.outboxes[i];
      if (std::filesystem::path(path).parent_path() == o.path && ValidUuid(BaseName(path)) &&
          IsDir(path))
        ScanDir(i, path, BaseName(path), ready_dir);
    }
    auto where = Locate(path);
    if (!where || IsDir(path)) continue;
    const bool ready = std::find(moved_in.begin(), moved_in.end(), path) != moved_in.end();
    Consider(where->first, path, where->second, ready);
  }
  if (rescan) {
    Rescan();
    RemoveUploadedCopies();
  }
  TakeDue();
  return did_;
}

int64_t OutboxWatcher::NextDueNs() const {
  int64_t next = next_rescan_ns_;
  for (const auto& [path, c] : candidates_)
    if (next == 0 || c.due_ns < next) next = c.due_ns;
  return next;
}

void OutboxWatcher::RemoveUploadedCopies() {
  if (options_.keep_uploaded.count() < 0) return;
  auto done =
      catalog_->OutboxUploadedBefore(env_.WallNowMs() - options_.keep_uploaded.count(), 1000);
  if (!done) return;
  for (const OutboxEntry& e : *done) {
    // The record first: a copy the catalog still lists must exist.
    if (!catalog_->MarkOutboxLocalRemoved(e.id)) continue;
    (void)env_.RemoveFile(OutboxCopiesDir(options_.state_dir) + "/" + e.local);
  }
}

// A copy without a record is what a crash between copying and recording leaves. Its
// original was still in place then; a rescan just took it again over the same name. One
// left is a copy whose original went meanwhile: kept aside, never deleted.
void OutboxWatcher::SweepOrphans() {
  const std::string dir = OutboxCopiesDir(options_.state_dir);
  auto live = catalog_->OutboxLiveLocals();
  auto names = env_.ListDir(dir);
  if (!live || !names) return;
  std::sort(live->begin(), live->end());
  for (const std::string& name : *names) {
    if (name.starts_with(".") || std::binary_search(live->begin(), live->end(), name)) continue;
    bool pending = false;
    for (const auto& [path, c] : candidates_) {
      auto id = IdentityOf(path);
      pending |= id && name == std::to_string(id->inode) + "-" + std::to_string(id->mtime_ns) +
                                   "-" + std::to_string(id->size);
    }
    if (pending || IsDir(dir + "/" + name)) continue;
    const std::string aside = dir + "/.orphans";
    (void)env_.CreateDirs(aside);
    if (env_.RenameFile(dir + "/" + name, aside + "/" + name))
      log::Warning("outbox: a copy without a record ({}) moved to {}", name, aside);
  }
}

std::vector<OutboxStatus> OutboxWatcher::Stats() {
  std::vector<OutboxStatus> out = stats_;
  for (const auto& [path, c] : candidates_) {
    if (!c.waiting_quota) continue;
    ++out[c.outbox].waiting_quota;
    out[c.outbox].waiting_quota_bytes += c.bytes;
  }
  auto counts = catalog_->OutboxCounts();
  if (!counts) return out;
  for (OutboxStatus& o : out) {
    for (const OutboxCount& c : *counts) {
      if (c.outbox != o.name) continue;
      o.kinds.push_back({c.kind, c.pending, c.pending_bytes, c.uploaded, c.oldest_pending_ms});
    }
  }
  return out;
}

}  // namespace granary

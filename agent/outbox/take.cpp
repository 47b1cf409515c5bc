#include "agent/outbox/take.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>

#include "agent/outbox/report.h"
#include "agent/outbox/uuid.h"
#include "platform/crypto.h"
#include "platform/handles.h"
#include "platform/log.h"

namespace granary {
namespace {

// A report is read whole to be parsed; anything larger is not a report anyone meant.
constexpr uint64_t kMaxReportBytes = 16 << 20;

bool ValidFileName(const std::string& name) {
  static const std::regex re("[A-Za-z0-9][A-Za-z0-9._-]{0,199}");
  return std::regex_match(name, re);
}

std::string BaseName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}
std::string DirName(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

// The digests of a local copy, read back from the disk: what is uploaded is what is hashed.
Result<StreamDigests> HashFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  StreamHasher hasher;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read " + path);
    if (n == 0) break;
    hasher.Update(std::string_view(buf, static_cast<size_t>(n)));
  }
  return hasher.Finish();
}

Status SyncFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return Error::FromErrno("fsync " + path);
  return Status::Ok();
}

Status CopyFile(const std::string& from, const std::string& to) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return Error::FromErrno("open " + from);
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!out) return Error::FromErrno("create " + to);
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read " + from);
    if (n == 0) return Status::Ok();
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Error::FromErrno("write " + to);
      done += w;
    }
  }
}

Status WriteBody(const std::string& to, const std::string& body) {
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!out) return Error::FromErrno("create " + to);
  for (size_t done = 0; done < body.size();) {
    ssize_t w = ::write(out.get(), body.data() + done, body.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Error::FromErrno("write " + to);
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

}  // namespace

std::string OutboxCopiesDir(const std::string& state_dir) { return state_dir + "/outbox"; }

Result<FileIdentity> IdentityOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error(path + " is not a regular file");
  FileIdentity id;
  id.path = path;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  id.inode = static_cast<uint64_t>(st.st_ino);
  return id;
}

OutboxTaker::OutboxTaker(Env& env, std::string state_dir, SegmentCatalog& catalog,
                         std::function<bool(uint64_t)> room)
    : env_(env), state_dir_(std::move(state_dir)), catalog_(catalog), room_(std::move(room)) {}

Status OutboxTaker::Reject(const OutboxConfig& outbox, const std::string& path,
                           const std::string& reason) {
  const std::string dir = outbox.path + "/.rejected";
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return Error::FromErrno("mkdir " + dir);
  // A name rejected before keeps its evidence: the new one gets a number.
  std::string to = dir + "/" + BaseName(path);
  for (int n = 1; env_.FileExists(to) && n < 1000; ++n)
    to = fmt::format("{}/{}.{}", dir, BaseName(path), n);
  if (Status s = WriteBody(to + ".reason", reason + "\n"); !s) return s;
  if (Status s = env_.RenameFile(path, to); !s) return s;
  (void)env_.SyncDir(dir);
  return env_.SyncDir(DirName(path));
}

// Links when the original goes afterwards (no second copy on the disk); copies when it
// stays, so a producer rewriting its file cannot change what was taken.
Result<bool> OutboxTaker::CopyIn(const OutboxConfig& outbox, const std::string& from,
                                 const std::string& to, const std::string* body) {
  (void)::unlink(to.c_str());  // an earlier take a crash interrupted
  Status s = Status::Ok();
  if (body != nullptr) {
    s = WriteBody(to, *body);
  } else if (!outbox.delete_after || ::link(from.c_str(), to.c_str()) != 0) {
    s = CopyFile(from, to);
  }
  if (s) s = SyncFile(to);
  if (s) s = env_.SyncDir(DirName(to));
  if (!s) {
    (void)::unlink(to.c_str());
    return s.error();
  }
  return true;
}

TakeResult OutboxTaker::Take(const OutboxConfig& outbox, const std::string& path,
                             const std::string& report_uuid) {
  TakeResult r;
  auto id = IdentityOf(path);
  if (!id) {
    r.detail = id.error().message();
    return r;
  }
  auto taken = catalog_.FindTaken(*id);
  if (!taken) {
    r.detail = taken.error().message();
    return r;
  }
  if (taken->has_value()) {
    // Recorded, then a crash before the original went; or after = "keep".
    if (outbox.delete_after && ::unlink(path.c_str()) == 0) (void)env_.SyncDir(DirName(path));
    r.outcome = TakeOutcome::kAlreadyTaken;
    return r;
  }
  if (!room_(id->size)) {
    r.outcome = TakeOutcome::kWaitQuota;
    return r;
  }
  const std::string name = BaseName(path);
  OutboxEntry e;
  e.outbox = outbox.name;
  e.original = *id;
  std::string body;
  const bool report = report_uuid.empty() && name.ends_with(".json");
  if (report) {
    auto text = env_.ReadFile(path, kMaxReportBytes + 1);
    if (!text) {
      r.detail = text.error().message();
      return r;
    }
    auto parsed = text->size() > kMaxReportBytes ? Result<ParsedReport>(Error("larger than 16 MiB"))
                                                 : ParseReport(*text, outbox);
    if (!parsed) {
      r.detail = parsed.error().message();
      Status s = Reject(outbox, path, r.detail);
      r.outcome = s ? TakeOutcome::kRejected : TakeOutcome::kError;
      if (!s) r.detail += "; and it could not be moved aside: " + s.error().message();
      return r;
    }
    e.role = "report";
    e.uuid = parsed->uuid;
    e.kind = parsed->kind;
    e.name = e.uuid + ".json";
    if (parsed->uuid_assigned) {
      body = std::move(parsed->body);
      log::Notice("outbox {}: {} had no uuid; assigned {}", outbox.name, path, e.uuid);
    }
  } else {
    if (!ValidFileName(name)) {
      r.detail =
          "a file name must be 1 to 200 characters of A-Z a-z 0-9 . _ -, starting with "
          "a letter or digit";
      Status s = Reject(outbox, path, r.detail);
      r.outcome = s ? TakeOutcome::kRejected : TakeOutcome::kError;
      return r;
    }
    e.role = "file";
    e.uuid = report_uuid.empty() ? NewUuidV4() : report_uuid;
    e.kind = outbox.kind;
    e.name = name;
  }
  e.local = fmt::format("{}-{}-{}", id->inode, id->mtime_ns, id->size);
  const std::string local = OutboxCopiesDir(state_dir_) + "/" + e.local;
  if (auto c = CopyIn(outbox, path, local, body.empty() ? nullptr : &body); !c) {
    r.detail = c.error().message();
    return r;
  }
  auto digests = HashFile(local);
  auto now = IdentityOf(path);
  if (!digests || !now || !(*now == *id)) {
    (void)::unlink(local.c_str());
    r.outcome = digests ? TakeOutcome::kChanged : TakeOutcome::kError;
    r.detail = digests ? "changed while it was taken" : digests.error().message();
    return r;
  }
  e.size = digests->bytes;
  e.sha256_hex = digests->sha256_hex;
  e.md5_hex = digests->md5_hex;
  e.taken_at = env_.WallNowMs();
  return Finish(outbox, std::move(e), local);
}

TakeResult OutboxTaker::Finish(const OutboxConfig& outbox, OutboxEntry e,
                               const std::string& local) {
  TakeResult r;
  const std::string path = e.original.path;
  auto same = catalog_.FindOutboxEntry(e.role, e.uuid, e.name);
  if (!same) {
    (void)::unlink(local.c_str());
    r.detail = same.error().message();
    return r;
  }
  if (same->has_value()) {
    (void)::unlink(local.c_str());
    if ((*same)->sha256_hex != e.sha256_hex) {
      r.detail = fmt::format("{} {} of {} was taken before with other content (sha256 {})", e.role,
                             e.name, e.uuid, (*same)->sha256_hex);
      Status s = Reject(outbox, path, r.detail);
      r.outcome = s ? TakeOutcome::kRejected : TakeOutcome::kError;
      return r;
    }
    if (outbox.delete_after && ::unlink(path.c_str()) == 0) (void)env_.SyncDir(DirName(path));
    r.outcome = TakeOutcome::kAlreadyTaken;
    return r;
  }
  if (Status s = catalog_.InsertOutboxEntry(e); !s) {
    (void)::unlink(local.c_str());
    r.detail = s.error().message();
    return r;
  }
  env_.CrashPoint("outbox-recorded");
  if (outbox.delete_after) {
    if (::unlink(path.c_str()) != 0) {
      log::Warning("outbox {}: taken {} but could not remove it: {}", outbox.name, path,
                   std::strerror(errno));
    } else {
      (void)env_.SyncDir(DirName(path));
    }
  }
  r.outcome = TakeOutcome::kTaken;
  r.entry = std::move(e);
  return r;
}

}  // namespace granary

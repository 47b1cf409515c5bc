// The outbox writer: every step leaves either nothing or something complete under a name the
// outbox watcher takes, never a partial file under such a name. POSIX calls directly: the Env
// seam has no link(2) or renameat2(2), and these files are the producer's, not the agent's.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "agent/outbox/submit.h"
#include "platform/crypto.h"
#include "platform/handles.h"

namespace granary {
namespace {

constexpr size_t kCopyChunk = 1 << 20;

Status SyncPath(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  if (::fsync(fd.get()) != 0) return Error::FromErrno("fsync " + path);
  return Status::Ok();
}
Status SyncDir(const std::string& dir) { return SyncPath(dir, O_RDONLY | O_DIRECTORY); }

// Never replaces: what is at `to` may already be the outbox watcher's.
Status RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0)
    return Error::FromErrno("rename " + from + " to " + to);
  return Status::Ok();
}

bool SameFilesystem(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev;
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A copy into `tmp`, checked against the hash taken when the file was inspected, then
// renamed to `target`.
Status CopyFile(const Attachment& a, const std::string& tmp, const std::string& target) {
  UniqueFd in(::open(a.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return Error::FromErrno("open " + a.path);
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!out) return Error::FromErrno("create " + tmp);
  StreamHasher hasher(/*with_md5=*/false);
  std::string buf(kCopyChunk, '\0');
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read " + a.path);
    if (n == 0) break;
    hasher.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Error::FromErrno("write " + tmp);
      done += w;
    }
  }
  if (::fsync(out.get()) != 0) return Error::FromErrno("fsync " + tmp);
  if (out.Close() != 0) return Error::FromErrno("close " + tmp);
  StreamDigests d = hasher.Finish();
  if (d.sha256_hex != a.sha256 || d.bytes != a.size) {
    ::unlink(tmp.c_str());  // our own partial copy, never the producer's file
    return Error(a.path + " changed while it was being submitted");
  }
  return RenameNoReplace(tmp, target);
}

// A hard link when the filesystem allows one, else a copy through `tmp`. The source is
// fsynced first: the link shares its data, which must be on disk before it is in the outbox.
Status PlaceFile(const Attachment& a, const std::string& tmp, const std::string& target) {
  if (Status s = SyncPath(a.path, O_RDONLY); !s) return s;
  if (::link(a.path.c_str(), target.c_str()) == 0) return Status::Ok();
  if (errno == EEXIST) return Error::FromErrno("link " + target);
  return CopyFile(a, tmp, target);
}

std::string Incoming(const std::string& uuid) { return "." + uuid + ".incoming"; }
std::string ReportTmp(const std::string& uuid) { return "." + uuid + ".json.tmp"; }

}  // namespace

Status OutboxWriter::CheckSpace(const std::vector<Attachment>& attachments, uint64_t report_bytes,
                                uint64_t margin) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !IsDir(dir_))
    return Error("outbox " + dir_ +
                 " cannot be written: " + (ec ? ec.message() : std::string("not a directory")));
  if (::access(dir_.c_str(), W_OK | X_OK) != 0)
    return Error::FromErrno("outbox " + dir_ + " cannot be written");
  uint64_t need = report_bytes + margin;
  for (const Attachment& a : attachments) {
    if (!SameFilesystem(a.path, dir_)) need += a.size;
  }
  struct statvfs vfs {};
  if (::statvfs(dir_.c_str(), &vfs) != 0) return Error::FromErrno("statvfs " + dir_);
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (free_bytes < need)
    return Error("outbox " + dir_ + " is full: " + std::to_string(free_bytes) + " bytes free, " +
                 std::to_string(need) + " needed (including a margin of " + std::to_string(margin) +
                 ")");
  return Status::Ok();
}

Status OutboxWriter::PlaceAttachments(const std::string& uuid,
                                      const std::vector<Attachment>& attachments) {
  if (attachments.empty()) return Status::Ok();
  const std::string existing = Path(uuid);
  if (!IsDir(existing)) {
    if (Status s = CreateIncoming(uuid); !s) return s;
    if (Status s = StageAttachments(uuid, attachments); !s) return s;
    return CommitAttachments(uuid);
  }
  for (const Attachment& a : attachments) {
    const std::string tmp = Path("." + uuid + "." + a.name + ".tmp");
    if (Status s = PlaceFile(a, tmp, existing + "/" + a.name); !s) return s;
  }
  return SyncDir(existing);
}

Status OutboxWriter::PlaceReport(const std::string& uuid, const std::string& json) {
  if (Status s = StageReport(uuid, json); !s) return s;
  return CommitReport(uuid);
}

Status OutboxWriter::CreateIncoming(const std::string& uuid) {
  const std::string dir = Path(Incoming(uuid));
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return Error::FromErrno("mkdir " + dir);
  return SyncDir(dir_);
}

bool OutboxWriter::AttachmentsStaged(const std::string& uuid) const {
  return IsDir(Path(Incoming(uuid)));
}

bool OutboxWriter::ReportStaged(const std::string& uuid) const {
  return ::access(Path(ReportTmp(uuid)).c_str(), F_OK) == 0;
}

// Whatever an earlier, interrupted pass left in the staging directory is replaced: nobody
// else sees it before the commit.
Status OutboxWriter::StageAttachments(const std::string& uuid,
                                      const std::vector<Attachment>& attachments) {
  const std::string incoming = Path(Incoming(uuid));
  for (const Attachment& a : attachments) {
    const std::string target = incoming + "/" + a.name;
    if (::unlink(target.c_str()) != 0 && errno != ENOENT)
      return Error::FromErrno("unlink " + target);
    const std::string tmp = incoming + "/." + a.name + ".tmp";
    if (Status s = PlaceFile(a, tmp, target); !s) return s;
  }
  return SyncDir(incoming);
}

Status OutboxWriter::CommitAttachments(const std::string& uuid) {
  if (!AttachmentsStaged(uuid)) return Status::Ok();  // committed before
  if (Status s = RenameNoReplace(Path(Incoming(uuid)), Path(uuid)); !s) return s;
  return SyncDir(dir_);
}

Status OutboxWriter::StageReport(const std::string& uuid, const std::string& json) {
  const std::string tmp = Path(ReportTmp(uuid));
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!out) return Error::FromErrno("create " + tmp);
  for (size_t done = 0; done < json.size();) {
    ssize_t w = ::write(out.get(), json.data() + done, json.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Error::FromErrno("write " + tmp);
    done += static_cast<size_t>(w);
  }
  if (::fsync(out.get()) != 0) return Error::FromErrno("fsync " + tmp);
  if (out.Close() != 0) return Error::FromErrno("close " + tmp);
  return SyncDir(dir_);
}

Status OutboxWriter::CommitReport(const std::string& uuid) {
  if (!ReportStaged(uuid)) return Status::Ok();  // committed before
  if (Status s = RenameNoReplace(Path(ReportTmp(uuid)), Path(uuid + ".json")); !s) return s;
  return SyncDir(dir_);
}

}  // namespace granary

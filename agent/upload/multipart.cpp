#include "agent/upload/multipart.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "agent/upload/multipart_plan.h"
#include "platform/crypto.h"
#include "platform/log.h"

namespace granary {
namespace {

constexpr size_t kReadChunk = 256 * 1024;
constexpr std::string_view kShaHeader = "x-amz-meta-granary-sha256";

Result<FileStamp> StatFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error("upload " + path + ": not a regular file");
  FileStamp id;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  id.inode = static_cast<uint64_t>(st.st_ino);
  return id;
}

// Digests of `length` bytes of `path` from `offset`, read in fixed-size pieces.
Result<StreamDigests> HashRange(const std::string& path, uint64_t offset, uint64_t length,
                                bool with_md5) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) return Error::FromErrno("open " + path);
  if (fseeko(f.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
    return Error::FromErrno(fmt::format("seek {} to {}", path, offset));
  }
  StreamHasher hasher(with_md5);
  std::vector<char> buf(kReadChunk);
  uint64_t left = length;
  while (left > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), left));
    size_t got = std::fread(buf.data(), 1, want, f.get());
    if (got == 0) {
      if (std::ferror(f.get())) return Error::FromErrno("read " + path);
      return Error(fmt::format("read {}: the file ends {} bytes early", path, left));
    }
    hasher.Update(std::string_view(buf.data(), got));
    left -= got;
  }
  return hasher.Finish();
}

bool IsNoSuchUpload(const Result<S3Response>& r) {
  return r && r->status == 404 && r->error_code == "NoSuchUpload";
}

std::string Unquote(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return etag;
}

// One call of UploadFile.
class FileUpload {
 public:
  FileUpload(Env& env, S3Client& client, SegmentCatalog& catalog, const LocalObject& object,
             const MultipartOptions& options)
      : env_(env), client_(client), catalog_(catalog), object_(object), options_(options) {}

  FileUploadResult Run();

 private:
  // nullopt: the upload was abandoned and the caller starts over.
  using Step = std::optional<FileUploadResult>;

  FileUploadResult SinglePut();
  Step Resume();
  Step Start();
  Step SendParts();
  Step Complete();
  // Is `key` already the object we meant (a crash after Complete, before the catalog knew)?
  bool AlreadyStored(const std::vector<MultipartPartRecord>& parts);
  Status AbortAndForget(const std::string& upload_id, const std::string& why);
  Status AbortUnknown();
  sigv4::Headers Metadata() const;

  FileUploadResult Done() const {
    FileUploadResult r;
    r.status = FileUploadStatus::kDone;
    r.multipart = record_.has_value();
    r.parts_sent = sent_;
    return r;
  }
  FileUploadResult Fail(std::string_view what, const Result<S3Response>& answer) const {
    FileUploadResult r;
    r.verdict = JudgeUpload(answer, "");
    r.verdict.error = fmt::format("{} {}: {}", what, object_.key, r.verdict.error);
    if (answer && answer->ok()) r.verdict.outcome = Outcome::kRetry;  // a garbled success
    r.status = r.verdict.outcome == Outcome::kPermanent ? FileUploadStatus::kPermanent
                                                        : FileUploadStatus::kRetry;
    r.multipart = true;
    r.parts_sent = sent_;
    return r;
  }
  FileUploadResult Local(const Error& e, bool permanent) const {
    FileUploadResult r;
    r.status = permanent ? FileUploadStatus::kPermanent : FileUploadStatus::kRetry;
    r.verdict.outcome = permanent ? Outcome::kPermanent : Outcome::kRetry;
    r.verdict.error = fmt::format("upload {}: {}", object_.key, e.message());
    r.parts_sent = sent_;
    return r;
  }

  Env& env_;
  S3Client& client_;
  SegmentCatalog& catalog_;
  const LocalObject& object_;
  const MultipartOptions& options_;
  FileStamp file_;
  std::string sha256_;  // the whole file's
  std::optional<MultipartRecord> record_;
  std::map<uint32_t, S3Part> unclaimed_;
  uint32_t sent_ = 0;
};

sigv4::Headers FileUpload::Metadata() const {
  sigv4::Headers h;
  for (const auto& kv : object_.metadata) {
    if (kv.first != kShaHeader) h.push_back(kv);
  }
  h.emplace_back(std::string(kShaHeader), sha256_);
  return h;
}

FileUploadResult FileUpload::Run() {
  Result<FileStamp> id = StatFile(object_.path);
  if (!id) return Local(id.error(), /*permanent=*/true);
  file_ = *id;
  if (file_.size != object_.size) {
    return Local(Error(fmt::format("{} has {} bytes, not the {} captured", object_.path, file_.size,
                                   object_.size)),
                 /*permanent=*/true);
  }
  if (options_.part_size < kMinPartSize || PartCount(file_.size, options_.part_size) > kMaxParts) {
    return Local(Error(fmt::format("part size {} is below 5 MiB or makes more than {} parts",
                                   options_.part_size, kMaxParts)),
                 /*permanent=*/true);
  }
  sha256_ = object_.sha256_hex;
  auto found = catalog_.FindMultipart(object_.key);
  if (!found) return Local(found.error(), /*permanent=*/false);
  record_ = std::move(*found);
  if (file_.size <= options_.part_size) return SinglePut();

  // At most one start-over per call: a second means something keeps failing, and the
  // caller's backoff should pace it.
  for (int pass = 0; pass < 2; ++pass) {
    Step step = record_ ? Resume() : Start();
    if (!step) continue;
    if (step->status != FileUploadStatus::kDone) return *step;
    step = SendParts();
    if (!step) continue;
    if (step->status != FileUploadStatus::kDone) return *step;
    step = Complete();
    if (!step) continue;
    return *step;
  }
  return Local(Error("the upload was started over twice in one attempt"), /*permanent=*/false);
}

FileUploadResult FileUpload::SinglePut() {
  if (record_) {
    // A multipart upload left from a larger part size: nothing of it is needed now.
    if (Status s = AbortAndForget(record_->upload_id, "the file now fits in one part"); !s) {
      return Local(s.error(), /*permanent=*/false);
    }
  }
  Result<StreamDigests> d = HashRange(object_.path, 0, file_.size, /*with_md5=*/true);
  if (!d) return Local(d.error(), /*permanent=*/false);
  if (!sha256_.empty() && d->sha256_hex != sha256_) {
    return Local(Error(fmt::format("{} changed since it was captured (SHA-256 {}, not {})",
                                   object_.path, d->sha256_hex, sha256_)),
                 /*permanent=*/true);
  }
  sha256_ = d->sha256_hex;
  if (options_.on_part) options_.on_part({PartEvent::kSending, 1, 1, file_.size});
  Result<S3Response> r = client_.PutObject(object_.key, object_.path, file_.size, d->md5_hex,
                                           d->sha256_hex, Metadata());
  Verdict v = JudgeUpload(r, d->md5_hex);
  FileUploadResult out;
  out.parts_sent = sent_ = 1;
  if (v.outcome == Outcome::kStored) {
    if (options_.on_part) options_.on_part({PartEvent::kStored, 1, 1, file_.size});
    out.status = FileUploadStatus::kDone;
    return out;
  }
  v.error = fmt::format("put {}: {}", object_.key, v.error);
  out.verdict = v;
  out.status =
      v.outcome == Outcome::kPermanent ? FileUploadStatus::kPermanent : FileUploadStatus::kRetry;
  return out;
}

Status FileUpload::AbortAndForget(const std::string& upload_id, const std::string& why) {
  log::Notice("multipart upload of {} ({}): {}; aborting it", object_.key, upload_id, why);
  Result<S3Response> r = client_.AbortMultipartUpload(object_.key, upload_id);
  if (!r) return r.error();
  if (!r->ok() && !IsNoSuchUpload(r)) {
    return Error(fmt::format("abort multipart upload {} of {}: HTTP {} {}", upload_id, object_.key,
                             r->status, r->error_code));
  }
  if (Status s = catalog_.EndMultipart(object_.key); !s) return s;
  record_.reset();
  return Status::Ok();
}

FileUpload::Step FileUpload::Resume() {
  std::string why = WhyStartOver(*record_, object_.path, file_, object_.sha256_hex,
                                 options_.part_size, env_.WallNowMs(), options_.max_age);
  if (!why.empty()) {
    if (Status s = AbortAndForget(record_->upload_id, why + "; starting over"); !s) {
      return Local(s.error(), /*permanent=*/false);
    }
    return std::nullopt;
  }
  if (sha256_.empty()) sha256_ = record_->sha256_hex;
  std::vector<S3Part> server;
  uint32_t marker = 0;
  for (int page = 0; page < static_cast<int>(kMaxParts); ++page) {
    Result<S3PartPage> p = client_.ListParts(object_.key, record_->upload_id, marker);
    Result<S3Response> answer = p ? Result<S3Response>(p->response) : Result<S3Response>(p.error());
    if (IsNoSuchUpload(answer)) {
      if (AlreadyStored(record_->parts)) {
        if (Status s = catalog_.EndMultipart(object_.key); !s) return Local(s.error(), false);
        return Done();
      }
      log::Notice("multipart upload of {} ({}): the server no longer knows it; starting over",
                  object_.key, record_->upload_id);
      if (Status s = catalog_.EndMultipart(object_.key); !s) return Local(s.error(), false);
      record_.reset();
      return std::nullopt;
    }
    if (!p || !p->response.ok()) return Fail("list parts of", answer);
    server.insert(server.end(), p->list.parts.begin(), p->list.parts.end());
    if (!p->list.truncated) break;
    if (p->list.next_marker <= marker) {
      return Fail("list parts of", Error("ListParts pages do not advance"));
    }
    marker = p->list.next_marker;
  }
  ReconciledParts rec = ReconcileParts(record_->parts, server, file_.size, options_.part_size);
  if (!rec.dropped.empty()) {
    log::Warning("multipart upload of {}: {} recorded part(s) not on the server; sending again",
                 object_.key, rec.dropped.size());
    if (Status s = catalog_.ReplaceParts(object_.key, rec.kept); !s) {
      return Local(s.error(), false);
    }
  }
  record_->parts = std::move(rec.kept);
  unclaimed_ = std::move(rec.unclaimed);
  log::Info("multipart upload of {} ({}): resuming, {} of {} parts on the server", object_.key,
            record_->upload_id, record_->parts.size(), PartCount(file_.size, options_.part_size));
  return Done();
}

Status FileUpload::AbortUnknown() {
  Result<S3PendingUploadPage> p = client_.ListMultipartUploads(object_.key, "", "");
  if (!p) return p.error();
  if (!p->response.ok()) {
    return Error(fmt::format("list multipart uploads of {}: HTTP {} {}", object_.key,
                             p->response.status, p->response.error_code));
  }
  // One page is enough: more than a thousand forgotten uploads of one key is not a crash's.
  for (const S3PendingUpload& u : p->list.uploads) {
    if (u.key != object_.key) continue;
    if (Status s = AbortAndForget(u.upload_id,
                                  "not in the catalog (a crash before it was "
                                  "recorded)");
        !s) {
      return s;
    }
  }
  return Status::Ok();
}

FileUpload::Step FileUpload::Start() {
  if (sha256_.empty()) {
    Result<StreamDigests> d = HashRange(object_.path, 0, file_.size, /*with_md5=*/false);
    if (!d) return Local(d.error(), /*permanent=*/false);
    sha256_ = d->sha256_hex;
  }
  if (Status s = AbortUnknown(); !s) return Local(s.error(), /*permanent=*/false);
  Result<S3UploadStart> start = client_.CreateMultipartUpload(object_.key, Metadata());
  if (!start || !start->response.ok()) {
    return Fail("create multipart upload",
                start ? Result<S3Response>(start->response) : Result<S3Response>(start.error()));
  }
  MultipartRecord r;
  r.key = object_.key;
  r.upload_id = start->upload_id;
  r.path = object_.path;
  r.size = file_.size;
  r.mtime_ns = file_.mtime_ns;
  r.inode = file_.inode;
  r.sha256_hex = sha256_;
  r.part_size = options_.part_size;
  r.created_at = env_.WallNowMs();
  env_.CrashPoint("multipart.after_create");
  if (Status s = catalog_.BeginMultipart(r); !s) return Local(s.error(), /*permanent=*/false);
  log::Info("multipart upload of {} ({} bytes, {} parts): started {}", object_.key, file_.size,
            PartCount(file_.size, options_.part_size), r.upload_id);
  record_ = std::move(r);
  unclaimed_.clear();
  return Done();
}

FileUpload::Step FileUpload::SendParts() {
  uint32_t count = PartCount(file_.size, options_.part_size);
  std::set<uint32_t> have;
  for (const MultipartPartRecord& p : record_->parts) have.insert(p.number);
  std::vector<uint32_t> todo;
  for (uint32_t n = 1; n <= count; ++n) {
    if (have.count(n) == 0) todo.push_back(n);
  }
  // The next part is hashed while this one is sent: hashing (MD5 and SHA-256, about
  // 500 MB/s together) would otherwise add a fifth to the time on a fast link.
  auto hash = [this](uint32_t n) {
    return std::async(std::launch::async, HashRange, object_.path,
                      PartOffset(n, options_.part_size),
                      PartLength(n, file_.size, options_.part_size), /*with_md5=*/true);
  };
  std::future<Result<StreamDigests>> next;
  for (size_t i = 0; i < todo.size(); ++i) {
    uint32_t n = todo[i];
    if ((options_.cancel != nullptr && options_.cancel->load()) ||
        (options_.should_yield && options_.should_yield())) {
      FileUploadResult r;
      r.status = FileUploadStatus::kPaused;
      r.multipart = true;
      r.parts_sent = sent_;
      return r;
    }
    uint64_t offset = PartOffset(n, options_.part_size);
    uint64_t length = PartLength(n, file_.size, options_.part_size);
    Result<StreamDigests> d = next.valid() ? next.get() : hash(n).get();
    if (!d) return Local(d.error(), /*permanent=*/false);
    if (i + 1 < todo.size()) next = hash(todo[i + 1]);
    MultipartPartRecord part{n, d->md5_hex, d->md5_hex};
    auto unclaimed = unclaimed_.find(n);
    if (unclaimed != unclaimed_.end() && unclaimed->second.etag == d->md5_hex) {
      // Stored before a crash lost the answer: the server's bytes are ours.
      if (Status s = catalog_.RecordPart(object_.key, part); !s) return Local(s.error(), false);
      if (options_.on_part) options_.on_part({PartEvent::kAdopted, n, count, length});
    } else {
      if (options_.on_part) options_.on_part({PartEvent::kSending, n, count, length});
      ++sent_;
      Result<S3Response> r = client_.UploadPart(object_.key, record_->upload_id, n, object_.path,
                                                offset, length, d->md5_hex, d->sha256_hex);
      if (IsNoSuchUpload(r)) {
        log::Notice("multipart upload of {} ({}): the server no longer knows it; starting over",
                    object_.key, record_->upload_id);
        if (Status s = catalog_.EndMultipart(object_.key); !s) return Local(s.error(), false);
        record_.reset();
        return std::nullopt;
      }
      Verdict v = JudgeUpload(r, d->md5_hex);
      if (v.outcome != Outcome::kStored) {
        FileUploadResult out;
        v.error = fmt::format("upload part {} of {}: {}", n, object_.key, v.error);
        out.verdict = v;
        out.status = v.outcome == Outcome::kPermanent ? FileUploadStatus::kPermanent
                                                      : FileUploadStatus::kRetry;
        out.multipart = true;
        out.parts_sent = sent_;
        return out;
      }
      env_.CrashPoint("multipart.before_record_part");
      if (Status s = catalog_.RecordPart(object_.key, part); !s) return Local(s.error(), false);
      if (options_.on_part) options_.on_part({PartEvent::kStored, n, count, length});
    }
    record_->parts.push_back(part);
  }
  std::sort(record_->parts.begin(), record_->parts.end(),
            [](const auto& a, const auto& b) { return a.number < b.number; });
  return Done();
}

bool FileUpload::AlreadyStored(const std::vector<MultipartPartRecord>& parts) {
  Result<S3Response> head = client_.HeadObject(object_.key);
  if (!head || !head->ok()) return false;
  return head->Header(std::string(kShaHeader)) == sha256_ &&
         head->Header("content-length") == std::to_string(file_.size) &&
         (parts.size() != PartCount(file_.size, options_.part_size) ||
          Unquote(head->Header("etag")) == MultipartEtag(parts));
}

FileUpload::Step FileUpload::Complete() {
  // The bytes sent must still be the file's: a change while parts went out starts over.
  Result<FileStamp> now = StatFile(object_.path);
  if (!now) return Local(now.error(), /*permanent=*/true);
  if (!(*now == file_)) {
    if (Status s = AbortAndForget(record_->upload_id, "the file changed while it was sent"); !s) {
      return Local(s.error(), /*permanent=*/false);
    }
    return Local(Error(object_.path + " changed while it was sent; starting over"),
                 /*permanent=*/false);
  }
  std::vector<S3Part> parts;
  for (const MultipartPartRecord& p : record_->parts) parts.push_back({p.number, p.etag, 0});
  std::string expected = MultipartEtag(record_->parts);
  Result<S3Response> r = client_.CompleteMultipartUpload(object_.key, record_->upload_id, parts);
  if (IsNoSuchUpload(r) && !AlreadyStored(record_->parts)) {
    log::Notice("multipart upload of {} ({}): the server no longer knows it; starting over",
                object_.key, record_->upload_id);
    if (Status s = catalog_.EndMultipart(object_.key); !s) return Local(s.error(), false);
    record_.reset();
    return std::nullopt;
  }
  if (!IsNoSuchUpload(r) && (!r || !r->ok())) return Fail("complete multipart upload", r);
  env_.CrashPoint("multipart.after_complete");
  // Verified from what the server now serves, not from what it said it did.
  Result<S3Response> head = client_.HeadObject(object_.key);
  if (!head || !head->ok()) return Fail("verify (HEAD)", head);
  std::string problem;
  if (head->Header("content-length") != std::to_string(file_.size)) {
    problem = fmt::format("{} bytes, not {}", head->Header("content-length"), file_.size);
  } else if (head->Header(std::string(kShaHeader)) != sha256_) {
    problem = fmt::format("{} \"{}\", not the file's {}", kShaHeader,
                          head->Header(std::string(kShaHeader)), sha256_);
  } else if (Unquote(head->Header("etag")) != expected) {
    problem = fmt::format("ETag {}, not the parts' {}", head->Header("etag"), expected);
  }
  if (!problem.empty()) {
    // Whatever the server holds is not our file; nothing local is lost by saying so.
    return Local(Error("the completed object has " + problem), /*permanent=*/true);
  }
  if (Status s = catalog_.EndMultipart(object_.key); !s) return Local(s.error(), false);
  log::Info("multipart upload of {} ({}): completed and verified, {} parts", object_.key,
            record_->upload_id, record_->parts.size());
  return Done();
}

}  // namespace

FileUploadResult UploadFile(Env& env, S3Client& client, SegmentCatalog& catalog,
                            const LocalObject& object, const MultipartOptions& options) {
  return FileUpload(env, client, catalog, object, options).Run();
}

}  // namespace granary

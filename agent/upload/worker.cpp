#include "agent/upload/worker.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <cstdio>
#include <utility>

#include "agent/upload/multipart.h"
#include "agent/upload/object_key.h"
#include "agent/upload/retry.h"
#include "platform/crypto.h"
#include "platform/handles.h"
#include "platform/log.h"
#include "platform/process.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

// After a catalog read failed: how soon to read again.
constexpr milliseconds kIdlePoll{1000};
// With nothing due the worker sleeps until the Buffer reports new work, the earliest retry
// is due or this long has passed: a safety net, not the way work is found.
constexpr milliseconds kIdleWait{300'000};
// A sleep at least this long lets go of the connection and the catalogs (servers close an
// idle keep-alive connection after about this anyway).
constexpr milliseconds kLetGoAfter{10'000};
// The format and its version, from the catalog's format ("jsonl.gz", "bson.gz").
std::string FormatVersion(const std::string& format) {
  return (format.empty() ? std::string("jsonl.gz") : format) + "/1";
}

// A reason may quote an error message, so the document is built, never formatted.
std::string TombstoneJson(const std::string& device, const DropRecord& d) {
  CjsonPtr o(cJSON_CreateObject());
  cJSON_AddStringToObject(o.get(), "device", device.c_str());
  cJSON_AddStringToObject(o.get(), "source", d.source.c_str());
  cJSON_AddNumberToObject(o.get(), "first_seq", static_cast<double>(d.first_seq));
  cJSON_AddNumberToObject(o.get(), "last_seq", static_cast<double>(d.last_seq));
  cJSON_AddNumberToObject(o.get(), "count", static_cast<double>(d.count));
  cJSON_AddStringToObject(o.get(), "reason", d.reason.c_str());
  cJSON_AddNumberToObject(o.get(), "at", static_cast<double>(d.at));
  CjsonString text(cJSON_PrintUnformatted(o.get()));
  return std::string(text.get()) + "\n";
}

}  // namespace

UploadWorker::UploadWorker(Env& env, Buffer& buffer, std::string state_dir, UploadOptions options)
    : env_(env),
      buffer_(buffer),
      state_dir_(std::move(state_dir)),
      options_(std::move(options)),
      client_(
          env,
          [this] {
            S3Options o = options_.s3;
            o.cancel = &cancel_;
            return o;
          }(),
          options_.credentials),
      rng_(std::random_device{}()) {}

UploadWorker::~UploadWorker() { Stop(); }

void UploadWorker::Start() {
  buffer_.SetUploadListener([this] {
    std::lock_guard<std::mutex> lock(mu_);
    kicked_ = true;
    cv_.notify_all();
  });
  thread_ = std::thread([this] {
    NameThisThread("upload");
    Run();
  });
}

void UploadWorker::Stop() {
  if (thread_.joinable()) buffer_.SetUploadListener({});
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  cancel_ = true;
  if (thread_.joinable()) thread_.join();
}

UploadStats UploadWorker::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool UploadWorker::WaitFor(milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stop_; });
}

bool UploadWorker::WaitForWork(milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&] { return stop_ || kicked_; });
  return !stop_;
}

std::string UploadWorker::KeyFor(const SegmentRecord& s) const {
  KeyFields f{options_.prefix, options_.device, s.source,  s.format,
              s.first_ts,      s.first_seq,     s.last_seq};
  return RenderKey(options_.key_template, f);
}

std::string UploadWorker::KeyFor(const OutboxEntry& e) const {
  const OutboxKeyFields f{options_.prefix, options_.device, e.kind, e.uuid, e.name, e.taken_at};
  return RenderOutboxKey(
      e.role == "report" ? options_.report_key_template : options_.file_key_template, f);
}

void UploadWorker::Kick() {
  std::lock_guard<std::mutex> lock(mu_);
  kicked_ = true;
  cv_.notify_all();
}

bool UploadWorker::OpenOutboxCatalog() {
  if (outbox_) return true;
  auto opened = SegmentCatalog::OpenForUploads(env_, state_dir_);
  if (!opened) {
    NoteCatalog(opened.error());
    return false;
  }
  outbox_ = std::move(*opened);
  return true;
}

std::optional<OutboxEntry> UploadWorker::NextOutboxDue(int64_t now_ms, int64_t* earliest_ms) {
  if (!OpenOutboxCatalog()) return std::nullopt;
  auto next = outbox_->NextOutboxDue(now_ms);
  if (!next) {
    NoteCatalog(next.error());
    return std::nullopt;
  }
  if (!next->has_value()) {
    auto earliest = outbox_->EarliestOutboxAttempt();
    if (earliest) *earliest_ms = *earliest;
  }
  return *next;
}

void UploadWorker::NoteFailure(const std::string& error, bool permanent) {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.failed;
  stats_.last_error = error;
  stats_.last_error_permanent = permanent;
  stats_.last_error_ms = env_.WallNowMs();
}

// A transport error names the request's URL, and so the key already.
std::string UploadWorker::ErrorText(const std::string& key, const Result<S3Response>& result,
                                    const Verdict& v) {
  return result ? fmt::format("upload {}: {}", key, v.error) : "upload: " + v.error;
}

void UploadWorker::UnparkAfterSuccess() {
  if (!parked_) return;
  // The service takes this device's uploads again: whatever an error that waiting could
  // not fix parked (credentials, bucket, policy) may well be fixed too.
  parked_ = false;
  tombstones_due_ms_ = 0;
  if (OpenOutboxCatalog()) (void)outbox_->RetryOutboxNow();
  if (Status s = buffer_.RetryUploadsNow(); !s) {
    log::Warning("uploader: {}", s.error().message());
  } else {
    log::Info("uploader: an upload succeeded; parked segments are due again");
  }
}

void UploadWorker::NoteCatalog(const Status& read) {
  if (!read) log::Warning("uploader: {}", read.error().message());
  std::lock_guard<std::mutex> lock(mu_);
  if (read) {
    stats_.catalog_error.clear();
  } else {
    stats_.catalog_error = read.error().message();
    stats_.catalog_error_ms = env_.WallNowMs();
  }
}

void UploadWorker::Run() {
  std::unique_ptr<SegmentCatalog> catalog;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    if (!catalog) {
      auto opened = SegmentCatalog::OpenReadOnly(env_, state_dir_);
      if (!opened) {
        NoteCatalog(opened.error());
        if (!WaitFor(kIdlePoll)) return;
        continue;
      }
      catalog = std::move(*opened);
    }
    {
      // Before the catalog is read: work reported from now on wakes the next wait.
      std::lock_guard<std::mutex> lock(mu_);
      kicked_ = false;
    }
    int64_t now = env_.WallNowMs();
    // One verdict on the catalog per pass: a tombstone listing that failed must not be
    // cleared by the segment query that worked after it.
    Status listed = now >= tombstones_due_ms_ ? UploadTombstones(*catalog) : Status::Ok();
    auto next = catalog->NextDue(now);
    if (!next) {
      NoteCatalog(next.error());
      if (!WaitFor(kIdlePoll)) return;
      continue;
    }
    NoteCatalog(listed);
    int64_t outbox_earliest = 0;
    if (!next->has_value()) {
      if (auto entry = NextOutboxDue(now, &outbox_earliest); entry) {
        milliseconds pause = UploadOneFile(*entry);
        if (pause.count() > 0 && !WaitFor(pause)) return;
        continue;
      }
    }
    if (!next->has_value()) {
      auto earliest = catalog->EarliestAttempt();
      if (earliest && outbox_earliest > 0 && (*earliest == 0 || outbox_earliest < *earliest))
        *earliest = outbox_earliest;
      milliseconds wait = earliest ? kIdleWait : kIdlePoll;
      if (earliest && *earliest > now) wait = std::min(wait, milliseconds(*earliest - now));
      if (tombstones_due_ms_ > now) wait = std::min(wait, milliseconds(tombstones_due_ms_ - now));
      if (wait >= kLetGoAfter) {
        // A long sleep: the connection to S3, libcurl's buffers and the catalogs' schemas
        // would sit in private memory meanwhile; the next pass opens them again.
        client_.Idle();
        catalog.reset();
        outbox_.reset();
      }
      if (!WaitForWork(wait)) return;
      continue;
    }
    milliseconds pause = UploadOne(**next);
    if (pause.count() > 0 && !WaitFor(pause)) return;
  }
}

milliseconds UploadWorker::UploadOne(const SegmentRecord& seg) {
  const std::string key = KeyFor(seg);
  const sigv4::Headers metadata = {
      {"x-amz-meta-granary-device", options_.device},
      {"x-amz-meta-granary-source", seg.source},
      {"x-amz-meta-granary-first-seq", std::to_string(seg.first_seq)},
      {"x-amz-meta-granary-last-seq", std::to_string(seg.last_seq)},
      {"x-amz-meta-granary-count", std::to_string(seg.count)},
      {"x-amz-meta-granary-sha256", seg.sha256_hex},
      {"x-amz-meta-granary-format", FormatVersion(seg.format)},
      {"x-amz-meta-granary-clock", seg.clock},
  };
  for (int skew_tries = 0;; ++skew_tries) {
    auto result =
        client_.PutObject(key, seg.path, seg.bytes, seg.md5_hex, seg.sha256_hex, metadata);
    Verdict v = JudgeUpload(result, seg.md5_hex);
    if (v.outcome == Outcome::kStored) {
      Status s = buffer_.MarkUploaded(seg.id);
      if (!s)
        log::Error("uploader: stored {} but could not record it: {}", key, s.error().message());
      attempt_ = 0;
      log::Info("uploaded {} ({} readings, {} bytes)", key, seg.count, seg.bytes);
      UnparkAfterSuccess();
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.uploaded;
      stats_.uploaded_bytes += seg.bytes;
      stats_.last_ok_ms = env_.WallNowMs();
      return milliseconds{0};
    }
    std::string error = ErrorText(key, result, v);
    if (v.outcome == Outcome::kSkewed && skew_tries == 0 && LearnClock(v)) continue;
    if (cancel_) return milliseconds{0};  // shutting down: not a failure of the segment
    NoteFailure(error, v.outcome == Outcome::kPermanent);
    int64_t now = env_.WallNowMs();
    if (v.outcome == Outcome::kPermanent) {
      log::Error("uploader: {} (not retryable; next try {}in {} s; the segment is kept)", error,
                 v.account ? "after another upload succeeds, the credentials change, or " : "",
                 options_.permanent_retry.count() / 1000);
      // Only an account-wide refusal is released by another upload's success: a segment
      // refused for its own bytes would be sent again after every success.
      parked_ = parked_ || v.account;
      (void)buffer_.MarkUploadFailed(seg.id, error, now + options_.permanent_retry.count());
      return milliseconds{0};  // others may still go through
    }
    milliseconds delay =
        BackoffDelay(attempt_++, options_.retry_min, options_.retry_max, v.retry_after, rng_);
    log::Warning("uploader: {} (retry in {} ms)", error, delay.count());
    (void)buffer_.MarkUploadFailed(seg.id, error, now + delay.count());
    return delay;
  }
}

milliseconds UploadWorker::UploadOneFile(const OutboxEntry& e) {
  const std::string key = KeyFor(e);
  const std::string path = state_dir_ + "/outbox/" + e.local;
  const sigv4::Headers metadata = {
      {"x-amz-meta-granary-device", options_.device},
      {"x-amz-meta-granary-sha256", e.sha256_hex},
      {"x-amz-meta-granary-format", e.role == "report" ? "report.json/1" : "file/1"},
      {"x-amz-meta-granary-kind", e.kind},
      {"x-amz-meta-granary-uuid", e.uuid},
  };
  if (e.size > options_.part_size) return UploadLargeFile(e, key, path, metadata);
  for (int skew_tries = 0;; ++skew_tries) {
    auto result = client_.PutObject(key, path, e.size, e.md5_hex, e.sha256_hex, metadata);
    Verdict v = JudgeUpload(result, e.md5_hex);
    if (v.outcome == Outcome::kSkewed && skew_tries == 0 && LearnClock(v)) continue;
    return FileOutcome(e, key, v, ErrorText(key, result, v));
  }
}

milliseconds UploadWorker::UploadLargeFile(const OutboxEntry& e, const std::string& key,
                                           const std::string& path,
                                           const sigv4::Headers& metadata) {
  MultipartOptions o;
  o.part_size = options_.part_size;
  o.max_age = options_.multipart_max_age;
  o.cancel = &cancel_;
  // Segments and reports reported meanwhile go first; the first part always goes, so a
  // steady stream of new work cannot stall the file.
  bool first = true;
  o.should_yield = [this, &first] {
    if (std::exchange(first, false)) return false;
    std::lock_guard<std::mutex> lock(mu_);
    return kicked_;
  };
  for (int skew_tries = 0;; ++skew_tries) {
    FileUploadResult r = UploadFile(env_, client_, *outbox_,
                                    LocalObject{key, path, e.size, e.sha256_hex, metadata}, o);
    if (r.status == FileUploadStatus::kPaused) return milliseconds{0};
    Verdict v = r.verdict;
    if (r.status == FileUploadStatus::kDone) v.outcome = Outcome::kStored;
    if (v.outcome == Outcome::kSkewed && skew_tries == 0 && LearnClock(v)) continue;
    return FileOutcome(e, key, v, v.error);
  }
}

bool UploadWorker::LearnClock(const Verdict& v) {
  if (v.server_time_ms <= 0) return false;
  int64_t offset = v.server_time_ms - env_.WallNowMs();
  client_.SetClockOffset(offset);
  log::Warning("uploader: server clock differs by {} ms; signing with its time", offset);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.clock_offset_ms = offset;
  return true;
}

milliseconds UploadWorker::FileOutcome(const OutboxEntry& e, const std::string& key,
                                       const Verdict& v, const std::string& error) {
  if (v.outcome == Outcome::kStored) {
    if (Status s = outbox_->MarkOutboxUploaded(e.id, env_.WallNowMs()); !s)
      log::Error("uploader: stored {} but could not record it: {}", key, s.error().message());
    attempt_ = 0;
    log::Info("uploaded {} ({} {}, {} bytes)", key, e.role, e.uuid, e.size);
    UnparkAfterSuccess();
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.outbox_uploaded;
    stats_.outbox_uploaded_bytes += e.size;
    stats_.last_ok_ms = env_.WallNowMs();
    return milliseconds{0};
  }
  if (cancel_) return milliseconds{0};  // shutting down: not a failure of the entry
  NoteFailure(error, v.outcome == Outcome::kPermanent);
  const int64_t now = env_.WallNowMs();
  if (v.outcome == Outcome::kPermanent) {
    log::Error("uploader: {} (not retryable; next try in {} s; the {} is kept)", error,
               options_.permanent_retry.count() / 1000, e.role);
    parked_ = parked_ || v.account;
    (void)outbox_->MarkOutboxFailed(e.id, error, now + options_.permanent_retry.count());
    return milliseconds{0};
  }
  milliseconds delay =
      BackoffDelay(attempt_++, options_.retry_min, options_.retry_max, v.retry_after, rng_);
  log::Warning("uploader: {} (retry in {} ms)", error, delay.count());
  (void)outbox_->MarkOutboxFailed(e.id, error, now + delay.count());
  return delay;
}

Status UploadWorker::UploadTombstones(SegmentCatalog& catalog) {
  auto drops = catalog.PendingTombstones(100);
  if (!drops) {
    tombstones_due_ms_ = env_.WallNowMs() + kIdlePoll.count();
    return drops.error().Wrap("list tombstones");
  }
  for (const DropRecord& d : *drops) {
    std::string body = TombstoneJson(options_.device, d);
    KeyFields f{options_.prefix, options_.device, d.source, "tombstone.json", d.at,
                d.first_seq,     d.last_seq};
    std::string key = RenderKey(
        "{prefix}/{device}/{source}/tombstones/{device}-{source}-{first_seq}-{last_seq}.{ext}", f);
    auto result = client_.PutObjectData(key, body,
                                        {{"x-amz-meta-granary-device", options_.device},
                                         {"x-amz-meta-granary-source", d.source},
                                         {"x-amz-meta-granary-format", "tombstone/1"}});
    Verdict v = JudgeUpload(result, Md5Hex(body));
    if (v.outcome != Outcome::kStored) {
      if (cancel_) return Status::Ok();
      NoteFailure(ErrorText(key, result, v), v.outcome == Outcome::kPermanent);
      parked_ = parked_ || (v.outcome == Outcome::kPermanent && v.account);
      milliseconds delay = v.outcome == Outcome::kPermanent
                               ? options_.permanent_retry
                               : BackoffDelay(attempt_++, options_.retry_min, options_.retry_max,
                                              v.retry_after, rng_);
      tombstones_due_ms_ = env_.WallNowMs() + delay.count();
      return Status::Ok();
    }
    UnparkAfterSuccess();
    if (buffer_.MarkTombstoneUploaded(d.id)) {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.tombstones;
    }
  }
  return Status::Ok();
}

}  // namespace granary

#include "storage/sealer.h"

#include <ctime>

#include <fmt/format.h>

#include "platform/log.h"
#include "storage/sqlite.h"

namespace granary {
namespace {

constexpr std::chrono::milliseconds kMaxBackoff{5000};

// "{device}-{source}-{yyyy}{mm}{dd}T{hh}-{first_seq}.jsonl.gz": the UTC hour of the first
// reading; first_seq makes it unique and stable across retries and restarts.
std::string SegmentFileName(const std::string& device, const std::string& source,
                            int64_t first_ts_ms, uint64_t first_seq) {
  time_t secs = static_cast<time_t>(first_ts_ms >= 0 ? first_ts_ms / 1000 : 0);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  return fmt::format("{}-{}-{:04}{:02}{:02}T{:02}-{}.jsonl.gz", device, source, tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, first_seq);
}

}  // namespace

Sealer::Sealer(Env& env, const BufferOptions& options, std::function<void()> wake)
    : env_(env),
      options_(options),
      segments_dir_(SegmentsDir(options.state_dir)),
      wake_(std::move(wake)) {}

Sealer::~Sealer() { Stop(); }

Status Sealer::Start() {
  auto db = sql::Open(env_, BufferDbPath(options_.state_dir), /*read_only=*/true);
  if (!db) return db.error();
  db_ = std::move(*db);
  auto stmt = sql::Prepare(db_.get(),
                           "SELECT first_seq, count, first_ts, last_ts, unsynced, lines"
                           " FROM readings WHERE source_id=? AND first_seq BETWEEN ? AND ?"
                           " ORDER BY first_seq");
  if (!stmt) return stmt.error();
  select_runs_ = std::move(*stmt);
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Sealer::Submit(std::vector<SealJob> jobs) {
  if (jobs.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  outstanding_ += jobs.size();
  for (SealJob& j : jobs) jobs_.push_back(std::move(j));
  cv_.notify_one();
}

std::vector<SealedFile> Sealer::TakeResults() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SealedFile> out;
  out.swap(results_);
  outstanding_ -= out.size();
  return out;
}

size_t Sealer::Outstanding() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outstanding_;
}

uint64_t Sealer::errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return errors_;
}

std::string Sealer::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

void Sealer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void Sealer::Run() {
  std::chrono::milliseconds backoff{0};
  for (;;) {
    SealJob job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (backoff.count() > 0) cv_.wait_for(lock, backoff, [&] { return stop_; });
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = jobs_.front();
    }
    auto sealed = SealOne(job);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (sealed) {
        jobs_.pop_front();
        results_.push_back(std::move(*sealed));
        last_error_.clear();
        backoff = std::chrono::milliseconds{0};
      } else {
        // Keep the job at the head: its readings stay buffered until a seal works.
        ++errors_;
        last_error_ = sealed.error().message();
        backoff = std::min(kMaxBackoff, std::max(std::chrono::milliseconds{100}, backoff * 2));
        log::Error("seal: {} (retrying in {} ms)", last_error_, backoff.count());
      }
    }
    wake_();
  }
}

Result<SealedFile> Sealer::SealOne(const SealJob& job) {
  sqlite3_stmt* sel = select_runs_.get();
  sql::StmtScope scope(sel);
  sql::Bind(sel, 1, job.source_id);
  sql::Bind(sel, 2, static_cast<int64_t>(job.first_seq));
  sql::Bind(sel, 3, static_cast<int64_t>(job.last_seq));

  SealedFile out;
  out.job = job;
  SegmentFileWriter writer(env_, options_.gzip_level);
  std::string tmp_path;
  uint64_t unsynced = 0;
  auto fail = [&](const Error& e) -> Error {
    if (!tmp_path.empty()) (void)env_.RemoveFile(tmp_path);
    return e.Wrap(fmt::format("seal {}#{}", job.source, job.first_seq));
  };
  int rc;
  while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
    if (out.count == 0) {
      out.first_ts = sqlite3_column_int64(sel, 2);
      out.name = SegmentFileName(options_.device, job.source, out.first_ts, job.first_seq);
      tmp_path = segments_dir_ + "/" + out.name + ".tmp";
      if (Status s = writer.Open(tmp_path); !s) return fail(s.error());
    }
    out.count += static_cast<uint64_t>(sqlite3_column_int64(sel, 1));
    out.last_ts = sqlite3_column_int64(sel, 3);
    unsynced += static_cast<uint64_t>(sqlite3_column_int64(sel, 4));
    std::string_view lines(static_cast<const char*>(sqlite3_column_blob(sel, 5)),
                           static_cast<size_t>(sqlite3_column_bytes(sel, 5)));
    if (Status s = writer.Append(lines); !s) return fail(s.error());
  }
  if (rc != SQLITE_DONE) return fail(sql::Fail(db_.get(), "read readings"));
  if (out.count != job.last_seq - job.first_seq + 1) {
    return fail(Error(fmt::format("buffer holds {} of the {} readings", out.count,
                                  job.last_seq - job.first_seq + 1)));
  }
  out.clock = unsynced == 0 ? "ok" : (unsynced == out.count ? "unsynced" : "mixed");
  auto digest = writer.Finish();
  if (!digest) return fail(digest.error());
  out.digest = *digest;
  env_.CrashPoint("seal.after_write");
  if (Status s = env_.RenameFile(tmp_path, segments_dir_ + "/" + out.name); !s) {
    return fail(s.error());
  }
  env_.CrashPoint("seal.after_rename");
  if (Status s = env_.SyncDir(segments_dir_); !s) return fail(s.error());
  env_.CrashPoint("seal.after_dirsync");
  return out;
}

}  // namespace granary

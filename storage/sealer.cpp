#include "storage/sealer.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "platform/log.h"
#include "platform/process.h"
#include "platform/sqlite.h"
#include "storage/run_codec.h"

namespace granary {
namespace {

constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr unsigned kMaxThreads = 2;

}  // namespace

Sealer::Sealer(Env& env, const BufferOptions& options, std::function<void()> wake)
    : env_(env),
      options_(options),
      segments_dir_(SegmentsDir(options.state_dir)),
      wake_(std::move(wake)) {}

Sealer::~Sealer() { Stop(); }

Status Sealer::Start() {
  const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1u, kMaxThreads);
  for (unsigned i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
  // The first connection now, so an unreadable buffer fails the start. The other workers
  // start, and connect, when a second segment waits (a thread's stack and a connection's
  // schema and cache are private memory, and a device with a few slow sources never
  // needs them).
  if (Status s = Connect(*workers_.front()); !s) return s;
  std::lock_guard<std::mutex> lock(mu_);
  StartWorker(0);
  return Status::Ok();
}

void Sealer::StartWorker(size_t i) {
  Worker* w = workers_[i].get();
  if (w->running || stop_) return;
  // An ended thread released mu_ as its last act: joining it here cannot wait on us.
  if (w->thread.joinable()) w->thread.join();
  w->running = true;
  w->thread = std::thread([this, w] {
    NameThisThread("sealer");
    Run(*w);
  });
}

Status Sealer::Connect(Worker& w) {
  if (w.db) return Status::Ok();
  auto db = sql::Open(env_, BufferDbPath(options_.state_dir), /*read_only=*/true);
  if (!db) return db.error();
  auto stmt = sql::Prepare(db->get(),
                           "SELECT first_seq, count, first_ts, last_ts, unsynced, lines, encoding"
                           " FROM readings WHERE source_id=? AND first_seq BETWEEN ? AND ?"
                           " ORDER BY first_seq");
  if (!stmt) return stmt.error();
  w.db = std::move(*db);
  w.select_runs = std::move(*stmt);
  return Status::Ok();
}

void Sealer::Submit(std::vector<SealJob> jobs) {
  if (jobs.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  outstanding_ += jobs.size();
  for (SealJob& j : jobs) jobs_.push_back(Slot{std::move(j), false, std::nullopt});
  // The second worker only while two segments wait.
  for (size_t i = 0; i < workers_.size() && i < jobs_.size(); ++i) StartWorker(i);
  cv_.notify_all();
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
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

Sealer::Slot* Sealer::NextUnclaimed() {
  for (Slot& slot : jobs_) {
    if (!slot.claimed) return &slot;
  }
  return nullptr;
}

void Sealer::ReleaseInOrder() {
  while (!jobs_.empty() && jobs_.front().sealed) {
    results_.push_back(std::move(*jobs_.front().sealed));
    jobs_.pop_front();
  }
}

void Sealer::Run(Worker& w) {
  std::chrono::milliseconds backoff{0};
  for (;;) {
    Slot* slot = nullptr;
    SealJob job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (backoff.count() > 0) cv_.wait_for(lock, backoff, [&] { return stop_; });
      // Nothing to seal for options_.sealer_idle_end: the thread ends, its stack goes back
      // to the kernel and it costs no wakeup until the next seal starts it again.
      if (!cv_.wait_for(lock, options_.sealer_idle_end,
                        [&] { return stop_ || NextUnclaimed() != nullptr; })) {
        // Closed under mu_: a seal submitted from now on starts a new thread on `w`.
        w.select_runs.reset();
        w.db.reset();
        w.running = false;
        return;
      }
      if (stop_) return;
      slot = NextUnclaimed();
      slot->claimed = true;
      job = slot->job;
    }
    auto sealed = SealOne(w, job);
    bool more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      more = NextUnclaimed() != nullptr;
    }
    // A seal reads its readings once, in order: the pages it cached are never read again.
    // With no other segment waiting the connection goes too (its schema and statement
    // would sit in private memory until the next seal, a minute or an hour away); the
    // next seal opens it again.
    if (!more) {
      w.select_runs.reset();
      w.db.reset();
    } else if (w.db) {
      sqlite3_db_release_memory(w.db.get());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (sealed) {
        slot->sealed = std::move(*sealed);
        ReleaseInOrder();
        last_error_.clear();
        backoff = std::chrono::milliseconds{0};
      } else {
        // Back in the queue: its readings stay buffered until a seal works.
        slot->claimed = false;
        ++errors_;
        last_error_ = sealed.error().message();
        backoff = std::min(kMaxBackoff, std::max(std::chrono::milliseconds{100}, backoff * 2));
        log::Error("seal: {} (retrying in {} ms)", last_error_, backoff.count());
      }
    }
    wake_();
  }
}

Result<SealedFile> Sealer::SealOne(Worker& w, const SealJob& job) {
  if (Status s = Connect(w); !s) {
    return s.error().Wrap(fmt::format("seal {}#{}", job.source, job.first_seq));
  }
  sqlite3_stmt* sel = w.select_runs.get();
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
      out.format = SegmentFormatOf(options_, job.source);
      out.name =
          SegmentFileName(options_.device, job.source, out.first_ts, job.first_seq, out.format);
      tmp_path = segments_dir_ + "/" + out.name + ".tmp";
      if (Status s = writer.Open(tmp_path); !s) return fail(s.error());
    }
    out.count += static_cast<uint64_t>(sqlite3_column_int64(sel, 1));
    out.last_ts = sqlite3_column_int64(sel, 3);
    unsynced += static_cast<uint64_t>(sqlite3_column_int64(sel, 4));
    std::string_view lines(static_cast<const char*>(sqlite3_column_blob(sel, 5)),
                           static_cast<size_t>(sqlite3_column_bytes(sel, 5)));
    Status s = sqlite3_column_int64(sel, 6) == static_cast<int64_t>(RunEncoding::kCompact)
                   ? RenderCompactRun(lines, static_cast<uint64_t>(sqlite3_column_int64(sel, 0)),
                                      sqlite3_column_int64(sel, 2),
                                      static_cast<uint64_t>(sqlite3_column_int64(sel, 1)),
                                      options_.device, job.source,
                                      [&](std::string_view text) { return writer.Append(text); })
                   : writer.Append(lines);
    if (!s) return fail(s.error());
  }
  if (rc != SQLITE_DONE) return fail(sql::Fail(w.db.get(), "read readings"));
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

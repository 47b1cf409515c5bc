// The writer thread and the bounded queue in front of it (one writer, as in LevelDB:
// producers queue, the writer groups their readings into one transaction).
#include "storage/buffer.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "platform/log.h"
#include "platform/process.h"
#include "storage/buffer_store.h"
#include "storage/sealer.h"

namespace granary {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMaxBackoff{5000};
// How often an idle writer checks segment ages (a segment open for an hour is sealed) and
// uploaded files past keep_uploaded: both deadlines are an hour by default, so an idle
// writer need not wake more often than this.
constexpr milliseconds kUpkeepEvery{10'000};
constexpr milliseconds kCacheReleaseEvery{1'000};

class BufferImpl final : public Buffer {
 public:
  BufferImpl(Env& env, const BufferOptions& options)
      : options_(options), store_(env, options), sealer_(env, options, [this] { Wake(); }) {}

  ~BufferImpl() override { Stop(false); }

  Status Start() {
    if (Status s = store_.Open(); !s) return s;
    if (Status s = sealer_.Start(); !s) return s;
    // Segments that ended before a crash are sealed before anything new arrives.
    sealer_.Submit(store_.TakeCuts());
    if (Status s = store_.EnforceQuota(); !s) log::Error("buffer: {}", s.error().message());
    PublishStats(Status::Ok());
    writer_ = std::thread([this] {
      NameThisThread("writer");
      Run();
    });
    return Status::Ok();
  }

  size_t Submit(std::vector<Reading> readings, milliseconds wait) override {
    std::unique_lock<std::mutex> lock(mu_);
    size_t accepted = 0;
    // The writer needs waking only to start a batch or to cut one short at batch_max; a
    // wake-up for every poll in between costs a context switch each and changes nothing.
    const bool was_empty = queue_.empty();
    auto deadline = Clock::now() + wait;
    for (Reading& r : readings) {
      if (queue_.size() >= options_.queue_capacity) {
        cv_writer_.notify_one();
        if (!cv_space_.wait_until(lock, deadline, [&] {
              return stopping_ || queue_.size() < options_.queue_capacity;
            })) {
          break;
        }
      }
      if (stopping_) break;
      queue_.push_back(std::move(r));
      ++enqueued_;
      ++accepted;
    }
    stats_.rejected += readings.size() - accepted;
    if (accepted > 0 && (was_empty || queue_.size() >= options_.batch_max)) {
      cv_writer_.notify_one();
    }
    return accepted;
  }

  bool WaitCaptured(milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t target = enqueued_;
    if (committed_ >= target) return true;
    capture_wanted_ = std::max(capture_wanted_, target);
    cv_writer_.notify_one();
    return cv_done_.wait_for(lock, timeout, [&] {
      return committed_ >= target || writer_exited_ || stopping_;
    }) && committed_ >= target;
  }

  Status Flush() override {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) return Error("buffer is stopping");
    uint64_t ticket = ++flush_requested_;
    flush_target_ = enqueued_;
    cv_writer_.notify_one();
    cv_done_.wait(lock, [&] { return flush_done_ >= ticket || writer_exited_; });
    if (flush_done_ < ticket) return Error("buffer stopped before the flush finished");
    return flush_status_;
  }

  void Stop(bool seal) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ && !writer_.joinable()) return;
      stopping_ = true;
      seal_on_stop_ = seal;
    }
    cv_writer_.notify_one();
    cv_space_.notify_all();
    if (writer_.joinable()) writer_.join();
    sealer_.Stop();
    store_.Close();
  }

  BufferStats Stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  bool Paused() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_.paused;
  }

  Status MarkUploaded(int64_t id) override {
    return OnWriter([id](BufferStore& s) { return s.MarkUploaded(id); });
  }
  Status MarkUploadFailed(int64_t id, const std::string& error, int64_t next_ms) override {
    return OnWriter([&](BufferStore& s) { return s.MarkUploadFailed(id, error, next_ms); });
  }
  Status MarkTombstoneUploaded(int64_t id) override {
    return OnWriter([id](BufferStore& s) { return s.MarkTombstoneUploaded(id); });
  }
  Status RetryUploadsNow() override {
    Status s = OnWriter([](BufferStore& s) { return s.RetryUploadsNow(); });
    NotifyUploadWork();
    return s;
  }

  void SetUploadListener(std::function<void()> notify) override {
    std::lock_guard<std::mutex> lock(listener_mu_);
    upload_listener_ = std::move(notify);
  }

 private:
  // The writer's loop state, kept across passes.
  struct WriterLoop {
    std::vector<Reading> batch;  // survives a failed commit: those readings are retried
    milliseconds backoff{0};
    Clock::time_point stop_deadline{};
    bool stop_cut = false;
    uint64_t seen_ticket = 0, seal_errors_at_ticket = 0;
    Clock::time_point next_upkeep{};
    Clock::time_point cache_released{};
  };
  // What one pass took from the shared state, and its last error.
  struct Pass {
    uint64_t flush_ticket = 0, flush_target = 0;
    bool stopping = false;
    Status last;
  };

  void Run();
  Pass TakeWork(WriterLoop& w);
  void CommitBatch(WriterLoop& w, Pass& p);
  bool FlushCommitted(const Pass& p) const;
  void CutSegments(WriterLoop& w, const Pass& p, bool flush_committed, bool drained);
  void Upkeep(WriterLoop& w, Pass& p);
  void AnswerFlush(const WriterLoop& w, const Pass& p, bool flush_committed);
  bool StopFinished(const WriterLoop& w, const Pass& p, bool drained);
  void Wake() {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
    cv_writer_.notify_one();
  }
  void PublishStats(const Status& last);
  void NotifyUploadWork() {
    std::lock_guard<std::mutex> lock(listener_mu_);
    if (upload_listener_) upload_listener_();
  }
  bool QueueEmpty() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.empty();
  }
  size_t QueueSize() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }
  // Records what the sealer finished; returns the first failure.
  Status RecordSealed();

  // Runs `fn` on the writer thread and waits for it.
  Status OnWriter(std::function<Status(BufferStore&)> fn) {
    auto cmd = std::make_shared<Command>();
    cmd->fn = std::move(fn);
    std::unique_lock<std::mutex> lock(mu_);
    if (writer_exited_ || stopping_) return Error("buffer is stopping");
    commands_.push_back(cmd);
    cv_writer_.notify_one();
    cv_done_.wait(lock, [&] { return cmd->done || writer_exited_; });
    if (!cmd->done) return Error("buffer stopped before the change was made");
    return cmd->status;
  }
  // Returns whether any command ran.
  bool RunCommands() {
    std::deque<std::shared_ptr<Command>> cmds;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cmds.swap(commands_);
    }
    for (auto& c : cmds) {
      Status s = c->fn(store_);
      std::lock_guard<std::mutex> lock(mu_);
      c->status = s;
      c->done = true;
    }
    if (!cmds.empty()) cv_done_.notify_all();
    return !cmds.empty();
  }

  struct Command {
    std::function<Status(BufferStore&)> fn;
    Status status;
    bool done = false;
  };
  std::deque<std::shared_ptr<Command>> commands_;

  const BufferOptions options_;
  BufferStore store_;  // writer thread only (after Start)
  Sealer sealer_;
  std::thread writer_;
  std::vector<SealedFile> unrecorded_;  // writer thread only: sealed, catalog write failed

  mutable std::mutex mu_;
  std::condition_variable cv_writer_, cv_space_, cv_done_;
  std::deque<Reading> queue_;
  uint64_t enqueued_ = 0;        // readings ever queued
  uint64_t committed_ = 0;       // of those, readings committed
  uint64_t capture_wanted_ = 0;  // WaitCaptured waits for committed_ to reach this
  uint64_t flush_requested_ = 0, flush_done_ = 0, flush_target_ = 0;
  Status flush_status_;
  bool stopping_ = false, seal_on_stop_ = false, writer_exited_ = false, wake_ = false;
  BufferStats stats_;
  // Its own lock: the listener takes the uploader's, which may be waiting on the writer.
  std::mutex listener_mu_;
  std::function<void()> upload_listener_;
};

void BufferImpl::PublishStats(const Status& last) {
  BufferStats fresh;
  store_.FillStats(fresh);
  std::string seal_error = sealer_.last_error();
  bool new_work = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fresh.rejected = stats_.rejected;
    fresh.commit_errors = stats_.commit_errors;
    fresh.seal_errors = sealer_.errors();
    fresh.last_error = !last ? last.error().message() : seal_error;
    // A drop records a tombstone to send (seals notify in RecordSealed).
    new_work = fresh.segments_dropped != stats_.segments_dropped ||
               fresh.dropped_readings != stats_.dropped_readings ||
               fresh.possibly_lost != stats_.possibly_lost;
    stats_ = std::move(fresh);
  }
  if (new_work) NotifyUploadWork();
}

Status BufferImpl::RecordSealed() {
  for (SealedFile& f : sealer_.TakeResults()) unrecorded_.push_back(std::move(f));
  Status result;
  size_t done = 0;
  for (; done < unrecorded_.size(); ++done) {
    if (Status s = store_.RecordSeal(unrecorded_[done]); !s) {
      result = s;
      break;
    }
  }
  unrecorded_.erase(unrecorded_.begin(), unrecorded_.begin() + static_cast<long>(done));
  if (done > 0) NotifyUploadWork();  // committed: the uploader's next read sees them
  return result;
}

void BufferImpl::Run() {
  WriterLoop w;
  for (;;) {
    Pass p = TakeWork(w);
    CommitBatch(w, p);
    const bool drained = w.batch.empty() && QueueEmpty();
    const bool flush_committed = FlushCommitted(p);
    CutSegments(w, p, flush_committed, drained);
    Upkeep(w, p);
    AnswerFlush(w, p, flush_committed);
    if (p.stopping && StopFinished(w, p, drained)) break;
    // Caught up: what the cache holds was just written and is read again only by a seal
    // (through its own connection). At a poll a second it would fill with a minute of
    // readings, 256 KiB of private memory; the next commit re-reads the few pages it
    // appends to from the OS's cache. At most once a second, so a fast writer that
    // catches up between batches keeps its cache.
    if (drained && Clock::now() - w.cache_released >= kCacheReleaseEvery) {
      store_.ReleaseCache();
      w.cache_released = Clock::now();
    }
  }
  RunCommands();
  std::lock_guard<std::mutex> lock(mu_);
  writer_exited_ = true;
  cv_done_.notify_all();
}

// Waits for something to do, lets a small batch grow for up to batch_wait (one fsync for
// many polls), and takes up to batch_max readings.
BufferImpl::Pass BufferImpl::TakeWork(WriterLoop& w) {
  Pass p;
  std::unique_lock<std::mutex> lock(mu_);
  auto has_work = [&] {
    return stopping_ || wake_ || flush_requested_ > flush_done_ || !queue_.empty() ||
           !commands_.empty();
  };
  if (w.backoff.count() > 0) {
    cv_writer_.wait_for(lock, w.backoff, [&] { return stopping_; });
  } else if (!has_work()) {
    cv_writer_.wait_until(lock, w.next_upkeep, has_work);
  }
  // A subscriber waiting to acknowledge its messages cannot let the batch grow: the
  // broker sends no more than its in-flight window until it has the acks.
  if (!queue_.empty() && queue_.size() < options_.batch_max && !stopping_ &&
      flush_requested_ == flush_done_ && w.backoff.count() == 0 && capture_wanted_ <= committed_) {
    cv_writer_.wait_for(lock, options_.batch_wait, [&] {
      return stopping_ || queue_.size() >= options_.batch_max || flush_requested_ > flush_done_ ||
             capture_wanted_ > committed_;
    });
  }
  wake_ = false;
  while (w.batch.size() < options_.batch_max && !queue_.empty()) {
    w.batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  cv_space_.notify_all();
  p.stopping = stopping_;
  if (flush_requested_ > flush_done_) {
    p.flush_ticket = flush_requested_;
    p.flush_target = flush_target_;
  }
  lock.unlock();
  if (p.stopping && w.stop_deadline == Clock::time_point{}) {
    w.stop_deadline = Clock::now() + options_.stop_grace;
  }
  if (p.flush_ticket != w.seen_ticket) {
    // Only seal failures after the request fail the flush; older ones may have cleared.
    w.seen_ticket = p.flush_ticket;
    w.seal_errors_at_ticket = sealer_.errors();
  }
  return p;
}

// A failed commit keeps the batch for the next pass, after a backoff.
void BufferImpl::CommitBatch(WriterLoop& w, Pass& p) {
  if (w.batch.empty()) return;
  Status s = store_.Commit(w.batch);
  std::lock_guard<std::mutex> lock(mu_);
  if (s) {
    committed_ += w.batch.size();
    w.batch.clear();
    w.backoff = milliseconds{0};
    if (capture_wanted_ > 0) cv_done_.notify_all();
    return;
  }
  p.last = s;
  w.backoff = std::min(kMaxBackoff, std::max(milliseconds{100}, w.backoff * 2));
  log::Error("buffer: {} (retrying in {} ms)", s.error().message(), w.backoff.count());
  ++stats_.commit_errors;
}

bool BufferImpl::FlushCommitted(const Pass& p) const {
  if (p.flush_ticket == 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return committed_ >= p.flush_target;
}

// A flush, or a stop that seals, ends every open segment once what it waited for is in.
void BufferImpl::CutSegments(WriterLoop& w, const Pass& p, bool flush_committed, bool drained) {
  if (flush_committed || (p.stopping && seal_on_stop_ && drained && !w.stop_cut)) {
    store_.CutAll();
    w.stop_cut = p.stopping;
  }
  sealer_.Submit(store_.TakeCuts());
}

// The writer's other duties, each pass: the uploader's catalog changes, aged segments and
// expired uploads (every kUpkeepEvery, and expired uploads after each catalog change, so
// keep_uploaded = 0 removes a file as soon as it is uploaded), recording finished seals,
// and the quota.
void BufferImpl::Upkeep(WriterLoop& w, Pass& p) {
  const bool changed = RunCommands();
  const bool due = Clock::now() >= w.next_upkeep;
  if (due) {
    w.next_upkeep = Clock::now() + kUpkeepEvery;
    if (w.batch.empty()) store_.CutAged();
  }
  if (due || changed) {
    if (Status s = store_.RemoveExpiredUploads(); !s) log::Error("buffer: {}", s.error().message());
  }
  if (Status s = RecordSealed(); !s) {
    p.last = s;
    log::Error("buffer: {}", s.error().message());
  }
  if (Status s = store_.EnforceQuota(); !s) {
    p.last = s;
    log::Error("buffer: {}", s.error().message());
  }
  sealer_.Submit(store_.TakeCuts());
  PublishStats(p.last);
}

// A flush is answered once its readings are committed and every seal is recorded, or as
// soon as a seal has failed since it was asked for.
void BufferImpl::AnswerFlush(const WriterLoop& w, const Pass& p, bool flush_committed) {
  if (!flush_committed) return;
  const bool sealed_all = sealer_.Outstanding() == 0 && unrecorded_.empty();
  if (sealed_all) {
    std::lock_guard<std::mutex> lock(mu_);
    flush_done_ = p.flush_ticket;
    flush_status_ = Status::Ok();
    cv_done_.notify_all();
  } else if (sealer_.errors() > w.seal_errors_at_ticket) {
    PublishStats(p.last);
    Error err(sealer_.last_error());
    std::lock_guard<std::mutex> lock(mu_);
    flush_done_ = p.flush_ticket;
    flush_status_ = err;
    cv_done_.notify_all();
  } else if (w.backoff.count() == 0) {
    // Wait for the sealer's wake-up rather than spin.
    std::unique_lock<std::mutex> lock(mu_);
    cv_writer_.wait_for(lock, milliseconds{50}, [&] { return wake_ || stopping_; });
  }
}

// Seals already under way are finished and recorded either way: cheaper than redoing them
// at the next start. Returns true when the writer may exit.
bool BufferImpl::StopFinished(const WriterLoop& w, const Pass& p, bool drained) {
  const bool sealed_all = sealer_.Outstanding() == 0 && unrecorded_.empty();
  const bool done = drained && sealed_all;
  if (done || Clock::now() >= w.stop_deadline) {
    if (!drained) {
      log::Error("buffer: stopping with {} readings not captured: {}", w.batch.size() + QueueSize(),
                 p.last ? "" : p.last.error().message());
    } else if (!done) {
      log::Error("buffer: stopping before every segment was sealed; they seal at next start");
    }
    return true;
  }
  if (drained) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_writer_.wait_for(lock, milliseconds{50}, [&] { return wake_; });
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<Buffer>> Buffer::Open(Env& env, const BufferOptions& options) {
  auto buffer = std::make_unique<BufferImpl>(env, options);
  if (Status s = buffer->Start(); !s) return s.error();
  return std::unique_ptr<Buffer>(std::move(buffer));
}

}  // namespace granary

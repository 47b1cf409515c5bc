#include "agent/scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "agent/sources/http_source.h"
#include "platform/log.h"
#include "platform/process.h"

namespace granary {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

struct Scheduler::Task {
  std::string name;
  std::string type;
  std::unique_ptr<Source> source;
  int64_t interval_ns = 0;
  milliseconds timeout{0};

  std::thread thread;
  std::mutex mu;  // guards stats, stop, done
  std::condition_variable cv;
  bool stop = false;
  bool done = false;
  // Held by the task's thread except while it is inside Poll(). Stop() takes it before
  // giving up on a hung poll, so once a task is abandoned its thread never again touches
  // the Scheduler, the sink or the Env, which may all be gone by the time the poll returns.
  std::mutex gate;
  bool abandoned = false;  // guarded by gate
  SourceStats stats;

  // Set for an HttpSource, which the HTTP thread polls; the fields below are that thread's.
  HttpSource* http = nullptr;
  int64_t next_tick = 0;
  bool in_flight = false;
  int64_t in_flight_deadline_ns = 0;  // when the running request times out
};

namespace {

// The one overrun rule, for both kinds of task: of `ticks` ticks from `first_tick` that
// came while a poll ran, those before the poll's deadline (its own tick plus its timeout)
// are overruns. The later ones belong to the poll's time-out, already counted as its error:
// with the timeout equal to the interval, a hung source is one error per tick, no overrun.
uint64_t Overruns(int64_t first_tick, int64_t ticks, int64_t interval_ns, int64_t deadline_ns) {
  if (deadline_ns <= first_tick) return 0;
  return static_cast<uint64_t>(std::min(ticks, (deadline_ns - first_tick - 1) / interval_ns + 1));
}

}  // namespace

Scheduler::Scheduler(Env& env, Sink sink, PauseCheck paused)
    : env_(env), sink_(std::move(sink)), paused_(std::move(paused)) {}

Scheduler::~Scheduler() { Stop(milliseconds{0}); }

void Scheduler::Add(std::string name, std::string type, std::unique_ptr<Source> source,
                    milliseconds interval, milliseconds timeout) {
  auto t = std::make_shared<Task>();
  t->name = std::move(name);
  t->type = std::move(type);
  t->source = std::move(source);
  t->interval_ns = std::chrono::duration_cast<nanoseconds>(interval).count();
  t->timeout = timeout;
  t->stats.name = t->name;
  t->stats.type = t->type;
  t->http = dynamic_cast<HttpSource*>(t->source.get());
  if (t->http != nullptr) http_tasks_.push_back(t.get());
  tasks_.push_back(std::move(t));
}

void Scheduler::Start() {
  last_progress_ns_ = env_.MonoNowNs();
  for (auto& t : tasks_) {
    if (t->http != nullptr) continue;
    // The thread keeps its Task alive, so a detached hung poll never touches freed memory.
    std::shared_ptr<Task> keep = t;
    t->thread = std::thread([this, keep] {
      NameThisThread("src:" + keep->name);
      Run(*keep);
    });
  }
  if (!http_tasks_.empty()) {
    http_loop_ = std::make_unique<HttpLoop>();
    http_thread_ = std::thread([this] {
      NameThisThread("http");
      RunHttp();
    });
  }
}

void Scheduler::Stop(milliseconds wait) {
  if (http_thread_.joinable()) {
    // The HTTP thread never blocks for longer than one loop turn, so it is always joined.
    http_stop_ = true;
    http_loop_->Wakeup();
    http_thread_.join();
    http_loop_.reset();  // abandons the exchanges still running
  }
  for (auto& t : tasks_) {
    std::lock_guard<std::mutex> lock(t->mu);
    t->stop = true;
    t->cv.notify_all();
  }
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (auto& t : tasks_) {
    if (!t->thread.joinable()) continue;
    std::unique_lock<std::mutex> lock(t->mu);
    bool finished = t->cv.wait_until(lock, deadline, [&] { return t->done; });
    lock.unlock();
    if (finished) {
      t->thread.join();
    } else {
      log::Warning("source {}: poll still running at stop; abandoning it", t->name);
      std::lock_guard<std::mutex> gate(t->gate);
      t->abandoned = true;
      t->thread.detach();
    }
  }
}

std::vector<SourceStats> Scheduler::Stats() const {
  std::vector<SourceStats> out;
  for (const auto& t : tasks_) {
    std::lock_guard<std::mutex> lock(t->mu);
    out.push_back(t->stats);
  }
  return out;
}

int64_t Scheduler::FirstTick(int64_t interval_ns) const {
  // Mapped onto the monotonic clock once; from then on the wall clock only stamps readings.
  const int64_t interval_ms = interval_ns / 1'000'000;
  int64_t wall = env_.WallNowMs();
  int64_t to_first_ms = (interval_ms - wall % interval_ms) % interval_ms;
  return env_.MonoNowNs() + to_first_ms * 1'000'000;
}

void Scheduler::Run(Task& t) {
  std::unique_lock<std::mutex> gate(t.gate);
  int64_t next_tick = FirstTick(t.interval_ns);

  for (;;) {
    {
      std::unique_lock<std::mutex> lock(t.mu);
      for (;;) {
        if (t.stop) break;
        int64_t left = next_tick - env_.MonoNowNs();
        if (left <= 0) break;
        t.cv.wait_for(lock, nanoseconds(left));
      }
      if (t.stop) break;
      // Woken long after the tick (a suspend, or a starved thread): skip, don't burst.
      int64_t late = env_.MonoNowNs() - next_tick;
      if (late >= t.interval_ns) {
        int64_t skipped = late / t.interval_ns;
        t.stats.missed += static_cast<uint64_t>(skipped);
        next_tick += skipped * t.interval_ns;
      }
    }
    last_progress_ns_ = env_.MonoNowNs();

    int64_t deadline = std::numeric_limits<int64_t>::max();
    if (paused_ && paused_()) {
      std::lock_guard<std::mutex> lock(t.mu);
      ++t.stats.paused;
    } else {
      int64_t ts = env_.WallNowMs();
      bool clock_ok = env_.ClockSynchronized();
      gate.unlock();
      env_.HangPoint("scheduler.poll");
      auto result = t.source->Poll(t.timeout);
      gate.lock();
      if (t.abandoned) return;
      // A failed poll that ran out its time is one error, not an error and an overrun.
      if (!result) deadline = next_tick + t.timeout.count() * 1'000'000;
      Record(t, ts, clock_ok, std::move(result), kSinkWait);
    }

    // Ticks that passed while polling are skipped, never queued.
    int64_t now = env_.MonoNowNs();
    next_tick += t.interval_ns;
    if (now >= next_tick) {
      int64_t over = (now - next_tick) / t.interval_ns + 1;
      std::lock_guard<std::mutex> lock(t.mu);
      t.stats.overruns += Overruns(next_tick, over, t.interval_ns, deadline);
      next_tick += over * t.interval_ns;
    }
  }
  std::lock_guard<std::mutex> lock(t.mu);
  t.done = true;
  t.cv.notify_all();
}

std::optional<size_t> Scheduler::Record(Task& t, int64_t ts, bool clock_ok,
                                        Result<std::vector<SourceReading>> result,
                                        milliseconds sink_wait) {
  size_t produced = 0, accepted = 0;
  if (result) {
    std::vector<Reading> readings;
    readings.reserve(result->size());
    std::optional<Error> too_large;
    for (SourceReading& r : *result) {
      if (r.data_json.size() > max_reading_bytes_) {
        too_large =
            Error(fmt::format("a reading of {} bytes is larger than max_reading_bytes "
                              "({}); not captured",
                              r.data_json.size(), max_reading_bytes_));
        continue;
      }
      readings.push_back({t.name, r.ts_ms != 0 ? r.ts_ms : ts, clock_ok, std::move(r.data_json)});
    }
    // The others are captured; the poll counts as failed, so the operator sees why.
    if (too_large) result = *too_large;
    produced = readings.size();
    accepted = sink_(std::move(readings), sink_wait);
  }
  std::lock_guard<std::mutex> lock(t.mu);
  ++t.stats.polls;
  t.stats.readings += accepted;
  t.stats.rejected += produced - accepted;
  if (result) {
    t.stats.consecutive_failures = 0;
    t.stats.last_ok_ms = ts;
    if (accepted < produced) {
      log::Warning("source {}: buffer full, {} readings not captured", t.name, produced - accepted);
    }
  } else {
    ++t.stats.errors;
    ++t.stats.consecutive_failures;
    t.stats.last_error_ms = ts;
    t.stats.last_error = result.error().message();
    // Log the first failure of a run and then every 100th, not every poll.
    if (t.stats.consecutive_failures % 100 == 1) {
      log::Warning("source {}: {}", t.name, t.stats.last_error);
    }
  }
  if (produced == 0) return std::nullopt;
  return produced - accepted;
}

void Scheduler::RunHttp() {
  for (Task* t : http_tasks_) t->next_tick = FirstTick(t->interval_ns);
  while (!http_stop_) {
    int64_t now = env_.MonoNowNs();
    int64_t earliest = now + 1'000'000'000;
    // Asked once per pass, not per source: it is a system call, and 100 sources tick at once.
    std::optional<bool> clock_ok;
    for (Task* t : http_tasks_) {
      if (t->next_tick <= now) {
        if (!clock_ok) clock_ok = env_.ClockSynchronized();
        TickHttp(*t, now, *clock_ok);
      }
      earliest = std::min(earliest, t->next_tick);
    }
    last_progress_ns_ = now;
    // Rounded up: waking a hair early would only spin until the tick.
    http_loop_->Run(
        milliseconds((std::max<int64_t>(0, earliest - env_.MonoNowNs()) + 999'999) / 1'000'000));
  }
  for (Task* t : http_tasks_) {
    std::lock_guard<std::mutex> lock(t->mu);
    t->done = true;
  }
}

void Scheduler::TickHttp(Task& t, int64_t now, bool clock_ok) {
  // Woken long after the tick (a suspend, or a starved thread): skip, don't burst.
  int64_t late = now - t.next_tick;
  if (late >= t.interval_ns) {
    int64_t skipped = late / t.interval_ns;
    std::lock_guard<std::mutex> lock(t.mu);
    t.stats.missed += static_cast<uint64_t>(skipped);
    t.next_tick += skipped * t.interval_ns;
  }
  const int64_t tick = t.next_tick;
  t.next_tick += t.interval_ns;
  if (t.in_flight) {
    // The previous poll is still running: the tick is skipped, never queued.
    std::lock_guard<std::mutex> lock(t.mu);
    t.stats.overruns += Overruns(tick, 1, t.interval_ns, t.in_flight_deadline_ns);
    return;
  }
  if (paused_ && paused_()) {
    std::lock_guard<std::mutex> lock(t.mu);
    ++t.stats.paused;
    return;
  }
  int64_t ts = env_.WallNowMs();
  t.in_flight = true;
  t.in_flight_deadline_ns = tick + t.timeout.count() * 1'000'000;
  http_loop_->Start(t.http->client().exchange(), std::nullopt, t.timeout,
                    [this, &t, ts, clock_ok](Result<HttpReply> reply) {
                      t.in_flight = false;
                      Result<std::vector<SourceReading>> result =
                          reply ? t.http->Parse(std::move(*reply)) : reply.error();
                      // A wait here stalls every HTTP source: wait once when the buffer
                      // fills, then refuse at once until it takes readings again.
                      milliseconds wait = http_sink_full_ ? milliseconds(0) : kSinkWait;
                      std::optional<size_t> refused =
                          Record(t, ts, clock_ok, std::move(result), wait);
                      if (refused) http_sink_full_ = *refused > 0;
                    });
}

}  // namespace granary

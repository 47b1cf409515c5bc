#include "agent/scheduler.h"

#include "platform/log.h"

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
};

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
  tasks_.push_back(std::move(t));
}

void Scheduler::Start() {
  last_progress_ns_ = env_.MonoNowNs();
  for (auto& t : tasks_) {
    // The thread keeps its Task alive, so a detached hung poll never touches freed memory.
    std::shared_ptr<Task> keep = t;
    t->thread = std::thread([this, keep] { Run(*keep); });
  }
}

void Scheduler::Stop(milliseconds wait) {
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

void Scheduler::Run(Task& t) {
  std::unique_lock<std::mutex> gate(t.gate);
  const int64_t interval_ms = t.interval_ns / 1'000'000;
  // First tick: the next wall-clock multiple of the interval, mapped onto the monotonic
  // clock once. From here on the wall clock only stamps readings.
  int64_t wall = env_.WallNowMs();
  int64_t to_first_ms = (interval_ms - wall % interval_ms) % interval_ms;
  int64_t next_tick = env_.MonoNowNs() + to_first_ms * 1'000'000;

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
      size_t produced = 0, accepted = 0;
      if (result) {
        std::vector<Reading> readings;
        readings.reserve(result->size());
        for (SourceReading& r : *result) {
          readings.push_back({t.name, r.ts_ms != 0 ? r.ts_ms : ts, clock_ok, std::move(r.data_json)});
        }
        produced = readings.size();
        accepted = sink_(std::move(readings));
      }
      std::lock_guard<std::mutex> lock(t.mu);
      ++t.stats.polls;
      if (result) {
        t.stats.readings += accepted;
        t.stats.rejected += produced - accepted;
        t.stats.consecutive_failures = 0;
        t.stats.last_ok_ms = ts;
        if (accepted < produced) {
          log::Warning("source {}: buffer full, {} readings not captured", t.name,
                       produced - accepted);
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
    }

    // Ticks that passed while polling are overruns: counted, never queued.
    int64_t now = env_.MonoNowNs();
    next_tick += t.interval_ns;
    if (now >= next_tick) {
      int64_t over = (now - next_tick) / t.interval_ns + 1;
      std::lock_guard<std::mutex> lock(t.mu);
      t.stats.overruns += static_cast<uint64_t>(over);
      next_tick += over * t.interval_ns;
    }
  }
  std::lock_guard<std::mutex> lock(t.mu);
  t.done = true;
  t.cv.notify_all();
}

}  // namespace granary

#include "agent/outbox/run_watcher.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>

#include <algorithm>

#include "agent/outbox/submit.h"
#include "platform/crypto.h"
#include "platform/handles.h"
#include "platform/log.h"
#include "platform/strings.h"
#include "platform/time.h"

namespace granary {
namespace {

constexpr uint64_t kMaxCounterBytes = 1 << 20;
// Free space a run's report and copies leave on the outbox's filesystem.
constexpr uint64_t kOutboxMargin = 16ULL << 20;

int64_t SizeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  return static_cast<int64_t>(st.st_size);
}

std::string RunReportJson(const std::string& device, const std::string& watcher,
                          const std::string& instrument, uint64_t run, int64_t detected_ms,
                          const std::vector<std::string>& missing) {
  CjsonPtr o(cJSON_CreateObject());
  cJSON_AddStringToObject(o.get(), "instrument", instrument.c_str());
  cJSON_AddNumberToObject(o.get(), "run", static_cast<double>(run));
  cJSON_AddStringToObject(o.get(), "detected", FormatIso8601Millis(detected_ms).c_str());
  cJSON_AddStringToObject(o.get(), "device", device.c_str());
  cJSON_AddStringToObject(o.get(), "watcher", watcher.c_str());
  if (!missing.empty()) {
    cJSON* m = cJSON_AddArrayToObject(o.get(), "missing_files");
    for (const std::string& p : missing) cJSON_AddItemToArray(m, cJSON_CreateString(p.c_str()));
  }
  CjsonString text(cJSON_PrintUnformatted(o.get()));
  return text.get();
}

}  // namespace

RunWatcher::RunWatcher(Env& env, RunsWatcherConfig config, std::string state_dir,
                       std::string device)
    : env_(env),
      config_(std::move(config)),
      marks_path_(state_dir + "/runs/" + config_.name + ".json"),
      device_(std::move(device)) {
  stats_.name = config_.name;
}

Status RunWatcher::Start() {
  const bool counter = !config_.counter_file.empty();
  auto pattern =
      CompileCounterPattern(counter ? config_.counter_regex : config_.run_dir_pattern, counter);
  if (!pattern) return pattern.error().Wrap("watcher " + config_.name);
  // Without its marks the watcher stays idle: a first start would overwrite them.
  if (Status s = LoadMarks(); !s) {
    stats_.error = s.error().message();
    return s.error().Wrap("watcher " + config_.name);
  }
  pattern_ = std::move(*pattern);
  for (auto& [name, state] : instruments_) {
    if (!state.pending_commit) continue;
    log::Notice("watcher {}: finishing run {} of {}, staged before the last stop", config_.name,
                *state.pending_commit, name);
    if (Status s = FinishCommit(name, state); !s) stats_.error = s.error().message();
  }
  return Status::Ok();
}

Result<std::map<std::string, uint64_t>> RunWatcher::ReadCounter() {
  if (!config_.counter_file.empty()) {
    auto text = env_.ReadFile(config_.counter_file, kMaxCounterBytes);
    if (!text) return text.error();
    return ParseCounterFile(*text, *pattern_);
  }
  auto names = env_.ListDir(config_.run_dir);
  if (!names) return names.error();
  std::map<std::string, uint64_t> out;
  if (auto run = HighestRunEntry(*names, *pattern_))
    out[config_.instrument.empty() ? config_.name : config_.instrument] = *run;
  return out;
}

void RunWatcher::Poll() {
  if (!pattern_) return;  // Start failed; the error is in the status
  auto counter = ReadCounter();
  if (!counter) {
    if (stats_.error != counter.error().message())
      log::Warning("watcher {}: {}", config_.name, counter.error().message());
    stats_.error = counter.error().message();
  } else {
    stats_.error.clear();
    for (const auto& [instrument, run] : *counter) {
      if (config_.counter_file.empty() || config_.instrument.empty() ||
          instrument == config_.instrument)
        Observe(instrument, run);
    }
  }
  for (auto& [name, state] : instruments_) {
    if (state.pending_commit) {
      if (Status s = FinishCommit(name, state); !s) {
        stats_.error = s.error().message();
        continue;
      }
    }
    // In order: a run waiting for its files holds back the runs after it.
    while (!state.queue.empty() && TrySubmit(name, state, state.queue.front()))
      state.queue.pop_front();
    RunInstrumentStats& st = StatsFor(name);
    st.last_seen = state.last_seen.value_or(state.last_submitted);
    st.last_submitted = state.last_submitted;
    st.pending = state.queue.size();
  }
}

void RunWatcher::Observe(const std::string& instrument, uint64_t current) {
  Instrument& state = instruments_[instrument];
  RunDecision d = DecideRuns(state.marked ? std::optional(state.last_submitted) : std::nullopt,
                             state.last_seen, current, config_.start_run);
  if (d.first_start) {
    state.marked = true;
    state.last_submitted = state.queued_to = d.baseline;
    log::Notice("watcher {}: first sight of {} at run {}: runs after {} are submitted",
                config_.name, instrument, current, d.baseline);
    if (Status s = SaveMarks(); !s) stats_.error = s.error().message();
  }
  if (d.decreased) {
    RunInstrumentStats& st = StatsFor(instrument);
    ++st.decreases;
    st.last_decrease_from = d.seen_before;
    st.last_decrease_to = current;
    log::Warning(
        "watcher {}: the run number of {} went down from {} to {}; nothing is "
        "resubmitted (the last submitted run is {})",
        config_.name, instrument, d.seen_before, current, state.last_submitted);
  }
  if (d.too_far) {
    log::Error(
        "watcher {}: {} jumped from run {} to {}, more than {} runs: not submitted, the "
        "mark moves to {}",
        config_.name, instrument, state.last_submitted, current, kMaxRunJump, current);
    state.last_submitted = state.queued_to = current;
    state.queue.clear();
    if (Status s = SaveMarks(); !s) stats_.error = s.error().message();
  } else if (d.Submits()) {
    const int64_t now = env_.WallNowMs();
    for (uint64_t r = std::max(d.first, state.queued_to + 1); r <= d.last; ++r)
      state.queue.push_back(PendingRun{r, now, {}});
    state.queued_to = std::max(state.queued_to, d.last);
  }
  state.last_seen = current;
}

bool RunWatcher::TrySubmit(const std::string& instrument, Instrument& state, PendingRun& run) {
  std::vector<std::string> complete, missing;
  bool waiting = false;
  for (const std::string& t : config_.file_templates) {
    auto path = ExpandRunTemplate(t, instrument, run.run);
    if (!path) continue;  // checked at load
    const int64_t size = SizeOf(*path);
    auto it = run.sizes.find(*path);
    const bool stable = size >= 0 && it != run.sizes.end() && it->second == size;
    run.sizes[*path] = size;
    (stable ? complete : missing).push_back(*path);
    waiting = waiting || !stable;
  }
  if (waiting && env_.WallNowMs() - run.detected_ms < config_.file_timeout.count()) return false;
  Status s = Submit(instrument, state, run, complete, missing);
  if (!s) {
    if (stats_.error != s.error().message())
      log::Error("watcher {}: run {} of {}: {}", config_.name, run.run, instrument,
                 s.error().message());
    stats_.error = s.error().message();
    return false;
  }
  return true;
}

// Staged under dot-names first, then marked pending, then renamed in: a crash before the
// mark restages the same UUID over the same names; a crash after it finishes the renames.
Status RunWatcher::Submit(const std::string& instrument, Instrument& state, const PendingRun& run,
                          const std::vector<std::string>& complete,
                          std::vector<std::string> missing) {
  std::vector<Attachment> attachments;
  for (const std::string& path : complete) {
    auto a = InspectAttachment(path);
    if (a) {
      attachments.push_back(std::move(*a));
    } else {
      missing.push_back(path);
    }
  }
  const std::string uuid = RunUuid(instrument, run.run);
  const std::string text =
      RunReportJson(device_, config_.name, instrument, run.run, run.detected_ms, missing);
  auto report = PrepareReport(ReportRequest{text, config_.kind, uuid, config_.kind}, attachments);
  if (!report) return report.error();
  OutboxWriter writer(config_.outbox_path);
  if (Status s = writer.CheckSpace(attachments, report->json.size(), kOutboxMargin); !s) return s;
  if (Status s = writer.StageReport(uuid, report->json); !s) return s;
  if (!attachments.empty()) {
    if (Status s = writer.CreateIncoming(uuid); !s) return s;
    if (Status s = writer.StageAttachments(uuid, attachments); !s) return s;
  }
  env_.CrashPoint("runs.staged");
  state.pending_commit = run.run;
  if (Status s = SaveMarks(); !s) {
    state.pending_commit.reset();
    return s;
  }
  env_.CrashPoint("runs.marked");
  if (!missing.empty()) ++stats_.missing;
  log::Info("watcher {}: run {} of {} submitted as {} ({} file(s), {} missing)", config_.name,
            run.run, instrument, uuid, attachments.size(), missing.size());
  return FinishCommit(instrument, state);
}

Status RunWatcher::FinishCommit(const std::string& instrument, Instrument& state) {
  const std::string uuid = RunUuid(instrument, *state.pending_commit);
  OutboxWriter writer(config_.outbox_path);
  if (Status s = writer.CommitAttachments(uuid); !s) return s;
  if (Status s = writer.CommitReport(uuid); !s) return s;
  env_.CrashPoint("runs.committed");
  state.last_submitted = *state.pending_commit;
  state.pending_commit.reset();
  ++stats_.submitted;
  return SaveMarks();
}

std::string RunWatcher::RunUuid(const std::string& instrument, uint64_t run) const {
  std::string h = Sha256Hex(salt_ + "\n" + instrument + "\n" + std::to_string(run));
  h[12] = '4';                               // version 4 ...
  h[16] = "89ab"[HexDigitValue(h[16]) & 3];  // ... RFC 4122 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

RunInstrumentStats& RunWatcher::StatsFor(const std::string& instrument) {
  for (RunInstrumentStats& s : stats_.instruments) {
    if (s.instrument == instrument) return s;
  }
  stats_.instruments.push_back(RunInstrumentStats{instrument});
  return stats_.instruments.back();
}

}  // namespace granary
